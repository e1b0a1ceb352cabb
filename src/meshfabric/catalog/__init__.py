"""Domains, data products and sources: apply specs to the store and read them back."""

from meshfabric.catalog.apply import ApplyResult, Change, apply_workspace, check_transition, effective_columns
from meshfabric.catalog.read import (
    DomainInfo,
    ProductInfo,
    SourceInfo,
    get_product,
    list_domains,
    list_products,
    list_sources,
)

__all__ = [
    "ApplyResult",
    "Change",
    "DomainInfo",
    "ProductInfo",
    "SourceInfo",
    "apply_workspace",
    "check_transition",
    "effective_columns",
    "get_product",
    "list_domains",
    "list_products",
    "list_sources",
]
