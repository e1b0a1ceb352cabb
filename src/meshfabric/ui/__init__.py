"""The web UI `meshfabric serve` shows at ``/``: server-rendered pages over the same services the
API and CLI use (issue 14). Every asset is served by meshfabric itself; no request leaves the machine."""
