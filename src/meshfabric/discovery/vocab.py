"""Word lists for the column classifier (:mod:`meshfabric.discovery.semantic`).

Hand-written, lower-case, accents kept where a spelling commonly has them (lookups also try an
accent-folded form). They are deliberately broad rather than complete: a person-name column is
recognised when a good share of its values contain a known first name or surname, so the lists
only need to cover the common names of each country, not every name.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(w.strip().lower() for w in text.split() if w.strip())


# --- first names -----------------------------------------------------------------------------------
_FIRST_EN = """
james john robert michael william david richard joseph thomas charles christopher daniel matthew
anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason
jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel
gregory alexander frank patrick raymond jack dennis jerry tyler aaron jose adam nathan henry douglas
zachary peter kyle ethan walter noah jeremy christian keith roger terry gerald harold sean austin carl
arthur lawrence dylan jesse jordan bryan billy joe bruce gabriel logan albert willie alan juan wayne
elijah randy roy vincent ralph eugene russell bobby mason philip louis harry oliver jake charlie
alfie freddie archie leo oscar theo arthur lucas liam mia emma olivia ava isabella sophia charlotte
amelia evelyn abigail harper emily elizabeth avery sofia ella madison scarlett victoria aria grace
chloe camila penelope riley layla lillian nora zoey mila aubrey hannah lily addison eleanor natalie
luna savannah brooklyn leah zoe stella hazel ellie paisley audrey skylar violet claire bella aurora
lucy anna samantha caroline genesis aaliyah kennedy kinsley allison maya sarah madelyn adeline
alexa ariana elena gabriella naomi alice sadie hailey eva emilia autumn quinn nevaeh piper ruby
serenity willow everly cora kaylee lydia aubree arianna eliana peyton melanie gianna isabelle julia
valentina nova clara vivian reagan mackenzie madeline mary patricia jennifer linda barbara susan
jessica margaret karen nancy lisa betty dorothy sandra ashley kimberly donna carol michelle amanda
melissa deborah stephanie rebecca sharon laura cynthia kathleen amy angela shirley brenda pamela
nicole katherine christine debra rachel carolyn janet catherine maria heather diane ruth julie joyce
virginia kelly christina joan judith evelyn cheryl megan andrea martha jacqueline frances gloria
teresa ann kathryn sara janice jean alice doris marie julia beverly denise marilyn danielle amber
theresa diana brittany natalie sophie rose kayla alexis lori tiffany holly jade poppy isla ivy
florence freya daisy phoebe imogen matilda evie molly esme rosie harriet eliza thea jasmine
ella-rose george-william
"""
_FIRST_DE = """
hans peter klaus jürgen juergen wolfgang michael thomas andreas stefan christian uwe frank bernd
dieter horst günter guenter helmut werner karl heinz gerhard manfred rolf jörg joerg ralf markus
matthias sebastian florian tobias jan lukas leon finn jonas felix maximilian luca paul elias ben noah
niklas moritz tim julian philipp alexander fabian dominik marcel dennis sven torsten kai heiko holger
dirk volker rainer friedrich wilhelm otto ernst walter kurt fritz hermann ludwig johannes mathias
ursula monika petra sabine renate helga karin brigitte ingrid erika elke gisela andrea claudia
susanne birgit stefanie nicole katrin kathrin anja tanja sandra melanie julia anna lena laura lea
leonie hannah sophie sophia marie emilia mia emma lina clara johanna charlotte greta frieda ida
luisa amelie paula nele jana jessica vanessa franziska annika carina kerstin silke heike gabriele
martina angelika christa hildegard gertrud ilse inge waltraud irmgard lieselotte liselotte anke
dagmar doris jutta marion ute beate bärbel baerbel
"""
_FIRST_FR = """
jean pierre michel philippe alain patrick nicolas christophe christian daniel bernard éric eric
frédéric frederic laurent stéphane stephane david pascal sébastien sebastien julien thierry olivier
françois francois jacques dominique gérard gerard didier yves bruno vincent jérôme jerome guillaume
antoine maxime alexandre thomas hugo louis lucas gabriel raphaël raphael arthur jules mathis théo
theo nathan enzo clément clement baptiste romain quentin benoît benoit mathieu mathilde marie
nathalie isabelle sylvie catherine françoise francoise martine christine monique valérie valerie
sandrine nicole sophie céline celine chantal véronique veronique brigitte anne stéphanie stephanie
camille léa lea manon chloé chloe emma jade louise alice inès ines lina juliette zoé zoe océane
oceane pauline aurélie aurelie émilie emilie claire élodie elodie julie margaux mélanie melanie
amélie amelie justine agathe apolline capucine héloïse heloise colette geneviève genevieve odile
jeanne simone yvette josette ginette thérèse therese
"""
_FIRST_ES_PT_LATAM = """
josé jose antonio manuel francisco juan david javier daniel carlos jesús jesus alejandro miguel
rafael pedro pablo ángel angel sergio fernando jorge luis alberto álvaro alvaro diego adrián adrian
raúl raul enrique ramón ramon vicente ignacio andrés andres rubén ruben óscar oscar santiago mateo
hugo martín martin lucas leo gonzalo marcos iker unai joaquín joaquin emilio guillermo ricardo
eduardo roberto salvador jaime agustín agustin mario julio césar cesar gustavo héctor hector
maría maria carmen josefa isabel ana dolores pilar teresa rosa cristina laura marta francisca
antonia lucía lucia mercedes elena paula raquel sara manuela rocío rocio beatriz patricia silvia
julia irene alba andrea nuria sofía sofia martina valeria daniela carla claudia alicia natalia
inés ines noelia lorena esther montserrat montse rosario concepción concepcion guadalupe
ximena camila valentina mariana gabriela fernanda victoria catalina renata florencia
joão joao gonçalo goncalo tiago rodrigo afonso duarte tomás tomas vasco rui nuno paulo sérgio
beatriz leonor matilde inês carolina mariana francisca margarida luana ana-maria
"""
_FIRST_IT = """
giuseppe giovanni antonio mario luigi francesco angelo vincenzo pietro salvatore carlo franco
domenico bruno paolo michele giorgio aldo sergio luciano roberto stefano alessandro andrea marco
luca matteo lorenzo leonardo gabriele riccardo tommaso edoardo federico davide simone fabio
massimo maurizio claudio enrico emanuele daniele alberto filippo giacomo nicola raffaele gianluca
maria anna giuseppina rosa angela giovanna teresa lucia carmela caterina francesca antonietta
carla elena rita paola laura giulia chiara sara martina alessia valentina federica silvia
elisa serena roberta monica barbara cristina alessandra simona daniela stefania beatrice
aurora ginevra alice emma giorgia greta sofia vittoria ludovica camilla bianca noemi arianna
"""
_FIRST_NL_BE = """
jan johannes hendrik henk pieter piet cornelis kees willem wim gerrit gerard jacob jacobus dirk
hans klaas bram daan sem lucas levi finn luuk milan jesse thijs stijn ruben tim lars bas joost
jeroen maarten bart sander wouter niels koen thomas mark dennis michiel martijn erik arjen rik
teun gijs tijn sven mees jurre ties floris wessel jelle sjoerd tjeerd
maria anna johanna cornelia elisabeth wilhelmina hendrika geertje grietje neeltje
emma julia sophie tess zoë sara anna eva lotte lisa fleur noor saar sanne femke lieke anouk
iris inge marieke marloes mirjam ingrid annemarie esther els ilse linda petra mieke joke
"""
_FIRST_NORDIC = """
lars anders johan erik karl per nils jan olof lennart björn bjorn magnus mikael fredrik henrik
gustav oskar oscar axel hugo william elias liam lucas alexander emil viktor isak filip sebastian
mattias jonas niklas tobias simon rasmus jesper mads søren soren niels jens morten peter kasper
mikkel frederik christian ole knut sven arne bjørn bjorn terje geir trond rune odd kjell stig
eirik sindre håkon hakon ola jukka mikko timo matti pekka juha antti jari kari ville juho eero
aleksi teemu sami janne heikki tuomas olli
anna maria eva karin kristina lena sara emma elin ida linnea maja ella ebba alva wilma alice
astrid freja signe saga klara elsa ingrid sofia malin johanna hanna frida julia sanna ulla
birgitta margareta ingegerd gunilla marianne inger kerstin britt agneta mette hanne lone
bente kirsten susanne camilla louise mathilde laura caroline cecilie ingeborg solveig sigrid
liv kari hilde marit randi tone nina ragnhild aino helmi aada venla sanni tiina päivi paivi
tuula leena anneli kaisa riikka minna
"""
_FIRST_PL_CE = """
piotr krzysztof andrzej tomasz jan paweł pawel michał michal marcin stanisław stanislaw jakub
adam marek łukasz lukasz grzegorz mateusz wojciech mariusz dariusz zbigniew jerzy józef jozef
kamil maciej rafał rafal robert kacper szymon filip bartosz dawid damian sebastian przemysław
anna maria katarzyna małgorzata malgorzata agnieszka krystyna barbara ewa elżbieta elzbieta
zofia janina teresa joanna magdalena monika danuta jadwiga aleksandra natalia julia zuzanna
wiktoria maja lena oliwia hanna alicja karolina dorota beata marta justyna kinga weronika
jiří jiri petr pavel josef martin tomáš tomas jaroslav miroslav zdeněk zdenek václav vaclav
jana eva hana lenka věra vera lucie tereza
ivan dmitri dmitry sergei sergey alexei alexey andrei andrey vladimir nikolai mikhail igor
olga tatiana natalia elena irina svetlana ekaterina anastasia yulia oksana
istván istvan lászló laszlo zoltán zoltan gábor gabor ferenc attila katalin erzsébet erzsebet
ion gheorghe mihai andrei elena ioana alexandru
"""
_FIRST_IN = """
aarav vivaan aditya vihaan arjun sai reyansh ayaan krishna ishaan shaurya atharv rahul rohit amit
sumit ankit vikram vijay ajay sanjay suresh ramesh mahesh rajesh dinesh mukesh rakesh naresh
prakash manoj anil sunil ashok deepak sandeep pradeep rajeev rajiv ravi arun varun karan kunal
nikhil sachin gaurav harsh manish pankaj abhishek akash anand anupam devendra ganesh gopal hari
jitendra kiran lalit mohan naveen pavan praveen raghav rakesh sanjeev santosh shankar shiv
srinivas subhash sudhir sunil tarun uday venkat vinod yash
aadhya ananya diya saanvi pari anika navya aaradhya myra sara priya pooja neha anjali kavya
sneha divya shreya aishwarya anita sunita kavita rekha geeta gita lakshmi meena asha usha nisha
ritu swati preeti shweta sonia pallavi deepika radha sita kiran jyoti archana suman vandana
"""
_FIRST_EAST_ASIA = """
wei fang min jing li na lei jun yan ying hui jie tao ping hong gang qiang yong chao bo hao xin
lin yu ming hua xiaoming xiaoyan jian jianhua guang zhiwei yun mei lan ling xiu xiuying yi
haruto yuto sota yuki hiroshi takashi kenji takeshi satoshi akira daiki kenta ryota shota kazuki
yuta naoki makoto daisuke tatsuya koji hiroki yusuke ren riku
yui hina aoi sakura yuna rin mio yuka akiko yoko keiko naoko tomoko yumiko kyoko emi mai
ayaka misaki haruka nanami mayu saki kaori megumi
minjun seojun jiho hyun jiwoo seoyeon jiwon minji soojin eunji
"""
_FIRST_OTHER = """
mohammed muhammad mohamed ahmed ahmad ali omar hassan hussein ibrahim youssef yusuf mustafa
mehmet ahmet mustafa emre burak murat ayşe ayse fatma zeynep elif emine
fatima aisha khadija mariam maryam nour layla yasmin amira salma
kwame kofi chidi emeka oluwaseun tunde ngozi amara chiamaka adaeze abebe
nguyen minh anh thanh huong linh tuan
dimitris giorgos nikos yannis konstantinos eleni katerina
sean seamus niamh siobhan aoife ciara cian oisin declan eoin padraig
"""

# --- surnames ----------------------------------------------------------------------------------------
_LAST_EN = """
smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez
wilson anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark
ramirez lewis robinson walker young allen king wright scott torres nguyen hill flores green adams
nelson baker hall rivera campbell mitchell carter roberts gomez phillips evans turner diaz parker
cruz edwards collins reyes stewart morris morales murphy cook rogers gutierrez ortiz morgan cooper
peterson bailey reed kelly howard ramos kim cox ward richardson watson brooks chavez wood james
bennett gray mendoza ruiz hughes price alvarez castillo sanders patel myers long ross foster
jimenez powell jenkins perry russell sullivan bell coleman butler henderson barnes gonzales fisher
vasquez simmons romero jordan patterson alexander hamilton graham reynolds griffin wallace moreno
west cole hayes bryant herrera gibson ellis tran medina aguilar stevens murray ford castro
marshall owens harrison fernandez mcdonald woods washington kennedy wells vargas henry chen
freeman webb tucker guzman burns crawford olson simpson porter hunter gordon mendez silva shaw
snyder mason dixon munoz hunt hicks holmes palmer wagner black robertson boyd rose stone salazar
fox warren mills meyer rice schmidt garza daniels ferguson nichols stephens soto weaver ryan
gardner payne grant dunn kelley spencer hawkins arnold pierce hansen peters santos hart bradley
knight elliott cunningham duncan armstrong hudson carroll lane riley andrews ray berry perkins
hoffman johnston matthews pena richards willis carpenter lawrence sandoval obrien o'brien
oconnor o'connor osullivan o'sullivan walsh byrne ryan doyle mccarthy gallagher doherty kennedy
lynch quinn mcLaughlin brennan burke collins clarke davies jones evans roberts hughes lewis
morgan price griffiths wood hall turner wright hill green cooper ward jackson harrison
robinson thompson white edwards hughes watson ali patel khan ahmed hussain shah
"""
_LAST_DE = """
müller mueller schmidt schneider fischer weber meyer meier wagner becker schulz hoffmann schäfer
schaefer koch bauer richter klein wolf schröder schroeder neumann schwarz zimmermann braun
krüger krueger hofmann hartmann lange schmitt werner schmitz krause meier lehmann schmid
schulze maier köhler koehler herrmann könig koenig walter mayer huber kaiser fuchs peters lang
scholz möller moeller weiß weiss jung hahn schubert vogel friedrich keller günther guenther
frank berger winkler roth beck lorenz baumann franke albrecht schuster simon ludwig böhm boehm
winter kraus martin schumacher krämer kraemer vogt stein jäger jaeger otto sommer groß gross
seidel heinrich brandt haas schreiber graf schulte dietrich ziegler kuhn kühn kuehn pohl engel
horn busch bergmann thomas voigt sauer arnold wolff pfeiffer gruber hofer bauer steiner moser
mayr leitner egger brunner lechner berger pichler
"""
_LAST_FR = """
martin bernard thomas petit robert richard durand dubois moreau laurent simon michel lefebvre
leroy roux david bertrand morel fournier girard bonnet dupont lambert fontaine rousseau vincent
muller lefèvre lefevre faure andré andre mercier blanc guérin guerin boyer garnier chevalier
françois francois legrand gauthier garcia perrin robin clément clement morin nicolas henry
roussel mathieu gautier masson marchand duval denis dumont marie lemaire noël noel meyer dufour
meunier brun blanchard giraud joly rivière riviere lucas brunet gaillard barbier arnaud martinez
gérard gerard roche renard schmitt roy leroux colin vidal caron picard roger fabre aubert lemoine
renaud dumas lacroix olivier philippe bourgeois pierre benoît benoit rey leclerc payet rolland
leclercq guillaume lecomte lopez jean dupuy guillot hubert berger carpentier sanchez dupuis
moulin louis deschamps huet vasseur perez boucher fleury royer klein jacquet adam paris poirier
marty aubry guyot carré carre charles renault charpentier ménard menard maillard baron bertin
bailly hervé herve schneider fernandez le-gall collet léger leger bouvier julien prévost prevost
millet perrot daniel le-roux cousin germain breton besson langlois rémy remy le-goff pelletier
lévêque leveque perrier leblanc barré barre lebrun marchal weber mallet hamon boulanger jacob
monnier michaud rodriguez guichard gillet étienne etienne grondin poulain tessier chevallier
collin chauvin da-silva bouchet gay lemaître lemaitre bénard benard maréchal marechal humbert
reynaud antoine hoarau perret barthélemy barthelemy cordier pichon lejeune gilbert lamy delaunay
pasquier carlier laporte
"""
_LAST_ES_PT = """
garcía garcia rodríguez rodriguez gonzález gonzalez fernández fernandez lópez lopez martínez
martinez sánchez sanchez pérez perez gómez gomez martín martin jiménez jimenez ruiz hernández
hernandez díaz diaz moreno muñoz munoz álvarez alvarez romero alonso gutiérrez gutierrez navarro
torres domínguez dominguez vázquez vazquez ramos gil ramírez ramirez serrano blanco molina morales
suárez suarez ortega delgado castro ortiz rubio marín marin sanz núñez nunez iglesias medina
garrido cortés cortes castillo santos lozano guerrero cano prieto méndez mendez cruz calvo gallego
vidal león leon márquez marquez herrera peña pena flores cabrera campos vega fuentes carrasco
diez caballero reyes nieto aguilar pascual santana herrero lorenzo montero hidalgo giménez gimenez
ibáñez ibanez ferrer durán duran santiago benítez benitez mora vicente vargas arias carmona crespo
román roman pastor soto sáez saez velasco moya soler parra esteban bravo gallardo rojas
silva santos ferreira pereira oliveira costa rodrigues martins jesus sousa fernandes gonçalves
goncalves gomes lopes marques alves almeida ribeiro pinto carvalho teixeira moreira correia
mendes nunes soares vieira monteiro cardoso rocha neves coelho cruz cunha pires ramos reis simões
simoes antunes matos fonseca machado araújo araujo barbosa tavares lourenço lourenco castro
"""
_LAST_IT = """
rossi russo ferrari esposito bianchi romano colombo ricci marino greco bruno gallo conti de-luca
deluca mancini costa giordano rizzo lombardi moretti barbieri fontana santoro mariani rinaldi
caruso ferrara galli martini leone longo gentile martinelli vitale lombardo serra coppola de-santis
desantis d'angelo dangelo marchetti parisi villa conte ferraro ferri fabbri bianco marini grasso
valentini messina sala de-angelis gatti pellegrini palumbo sanna farina rizzi monti cattaneo
morelli amato silvestri mazza testa grassi pellegrino carbone giuliani benedetti barone rossetti
caputo montanari guerra palmieri bernardi martino fiore de-rosa ferretti bellini basile riva
donati piras vitali battaglia sartori neri costantini milani pagano ruggiero sorrentino d'amico
orlando damico negri
"""
_LAST_NL = """
de-jong jansen de-vries van-den-berg van-dijk bakker janssen visser smit meijer de-boer mulder
de-groot bos vos peters hendriks van-leeuwen dekker brouwer de-wit dijkstra smits de-graaf
van-der-meer van-der-linden kok jacobs de-haan vermeulen van-den-heuvel van-der-veen van-den-broek
de-bruijn de-bruin van-der-heijden schouten van-beek willems van-vliet van-de-ven hoekstra maas
verhoeven koster van-dam van-der-wal prins blom huisman peeters maes claes goossens wouters
de-smet dubois lambert dupont mertens willems jacobs
jong vries berg dijk boer groot wit graaf meer linden heuvel veen broek bruijn heijden beek
vliet ven dam wal leeuwen haan
"""
_LAST_NORDIC = """
andersson johansson karlsson nilsson eriksson larsson olsson persson svensson gustafsson pettersson
jonsson jansson hansson bengtsson jönsson jonsson lindberg jakobsson magnusson olofsson lindström
lindstrom lindqvist lindgren berg axelsson bergström bergstrom lundberg lind lundgren lundqvist
mattsson berglund fredriksson sandberg henriksson forsberg sjöberg sjoberg wallin engström
engstrom eklund danielsson lundin håkansson hakansson björk bjork bergman gunnarsson holm wikström
wikstrom samuelsson isaksson fransson bergqvist nyström nystrom holmberg arvidsson löfgren
lofgren söderberg soderberg nyberg blomqvist claesson nordström nordstrom
nielsen jensen hansen pedersen andersen christensen larsen sørensen sorensen rasmussen jørgensen
jorgensen petersen madsen kristensen olsen thomsen christiansen poulsen johansen møller moller
mortensen johannessen karlsen pettersen eriksen berg haugen hagen johannessen andreassen jacobsen
dahl jensen halvorsen lie nilsen solberg strand
korhonen virtanen mäkinen makinen nieminen mäkelä makela hämäläinen hamalainen laine heikkinen
koskinen järvinen jarvinen lehtonen lehtinen saarinen salminen heinonen niemi heikkilä heikkila
kinnunen salonen turunen salo laitinen tuominen rantanen karjalainen jokinen mattila savolainen
lahtinen ahonen
"""
_LAST_PL_CE = """
nowak kowalski wiśniewski wisniewski wójcik wojcik kowalczyk kamiński kaminski lewandowski
zieliński zielinski szymański szymanski woźniak wozniak dąbrowski dabrowski kozłowski kozlowski
jankowski mazur wojciechowski kwiatkowski krawczyk kaczmarek piotrowski grabowski zając zajac
pawłowski pawlowski michalski król krol wieczorek jabłoński jablonski wróbel wrobel nowakowski
majewski olszewski stępień stepien malinowski jaworski adamczyk dudek nowicki pawlak górski
gorski witkowski walczak sikora baran rutkowski michalak szewczyk ostrowski tomaszewski pietrzak
kowalska nowakowska wiśniewska wisniewska kamińska kaminska lewandowska zielińska zielinska
novák novak svoboda novotný novotny dvořák dvorak černý cerny procházka prochazka kučera kucera
veselý vesely horák horak němec nemec
ivanov smirnov kuznetsov popov vasiliev petrov sokolov mikhailov novikov fedorov morozov volkov
alekseev lebedev semenov egorov pavlov kozlov stepanov nikolaev orlov andreev makarov
ivanova smirnova kuznetsova popova petrova sokolova
nagy kovács kovacs tóth toth szabó szabo horváth horvath varga kiss molnár molnar németh nemeth
farkas balogh popescu ionescu popa stan dumitru
"""
_LAST_IN = """
sharma verma gupta singh kumar patel shah mehta joshi desai reddy rao nair menon pillai iyer
iyengar agarwal aggarwal bansal goyal jain malhotra kapoor khanna chopra arora bhatia sethi
saxena srivastava mishra pandey tiwari dubey trivedi chaturvedi yadav chauhan rathore thakur
chatterjee banerjee mukherjee bose ghosh das dutta sen roy chakraborty bhattacharya sinha
naidu krishnan subramanian venkatesan raman murthy hegde kulkarni deshpande patil pawar jadhav
shinde gaikwad more khan siddiqui qureshi ansari sheikh shaikh mirza
"""
_LAST_EAST_ASIA = """
wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo zheng liang
xie song tang han feng deng cao peng zeng xiao tian dong pan yuan cai jiang yu du ye cheng wei
su lu ding ren shen yao jin fu zhong
sato satō suzuki takahashi tanaka watanabe ito itō yamamoto nakamura kobayashi kato katō yoshida
yamada sasaki yamaguchi matsumoto inoue kimura hayashi shimizu yamazaki mori abe ikeda hashimoto
yamashita ishikawa nakajima maeda fujita ogawa goto okada hasegawa murakami kondo ishii saito
sakamoto endo aoki fujii nishimura fukuda ota miura fujiwara okamoto matsuda nakagawa
kim lee park choi jung jeong kang cho yoon yun jang lim han oh seo shin kwon hwang ahn song
nguyen tran le pham hoang phan vu vo dang bui do ho ngo duong ly
"""
_LAST_OTHER = """
yilmaz yılmaz kaya demir şahin sahin çelik celik yıldız yildiz yıldırım yildirim öztürk ozturk
aydın aydin özdemir ozdemir arslan doğan dogan kılıç kilic aslan çetin cetin
hassan hussein ibrahim abdullah mahmoud mansour haddad khalil saleh nasser
okafor okonkwo adeyemi adebayo mensah owusu boateng osei kamau otieno mwangi
papadopoulos papadakis georgiou nikolaou dimitriou
murphy kelly byrne ryan walsh o'neill oneill
"""

#: common first (given) names, several countries
FIRST_NAMES: frozenset[str] = _words(
    _FIRST_EN + _FIRST_DE + _FIRST_FR + _FIRST_ES_PT_LATAM + _FIRST_IT + _FIRST_NL_BE
    + _FIRST_NORDIC + _FIRST_PL_CE + _FIRST_IN + _FIRST_EAST_ASIA + _FIRST_OTHER)

#: common surnames, several countries (multi-word Dutch/Italian forms written with hyphens)
SURNAMES: frozenset[str] = _words(
    _LAST_EN + _LAST_DE + _LAST_FR + _LAST_ES_PT + _LAST_IT + _LAST_NL + _LAST_NORDIC + _LAST_PL_CE
    + _LAST_IN + _LAST_EAST_ASIA + _LAST_OTHER)

#: particles that appear inside names and count neither for nor against them
NAME_PARTICLES: frozenset[str] = _words("""
van von der den de del della di da dos das du la le al el bin ibn ben ter ten zu y e af av mc mac st
""")

#: honorifics and suffixes (skipped when present)
NAME_TITLES: frozenset[str] = _words("""
mr mrs ms miss mx dr prof sir dame herr frau fr hr mme mlle m sr sra srta sig sig.ra dott ing mag
jr sr ii iii iv phd md esq
""")

# --- addresses ---------------------------------------------------------------------------------------
#: street-type words, whole tokens (trailing dots stripped before lookup)
STREET_WORDS: frozenset[str] = _words("""
street st str avenue ave av avda road rd lane ln drive dr boulevard blvd bd bvd way wy court ct place
pl terrace terr crescent cres close square sq highway hwy parkway pkwy circle cir trail trl row alley
walk grove gardens gdns mews parade broadway turnpike pike expressway freeway plaza
straße strasse weg platz allee gasse ring damm ufer chaussee steig pfad markt
rue chemin allée allee impasse quai route cours faubourg passage
calle c/ avenida paseo pso camino carretera ronda travesía travesia glorieta
via viale piazza piazzale corso vicolo largo strada contrada
straat laan plein gracht kade singel dijk steeg
gatan gata vägen vagen väg vag vej gade allé gate veien vegen vei katu tie
ul ulica al aleja os osiedle
rua travessa praça praca estrada
""")

#: street-type endings of compound street names (Hauptstraße, Lindenweg, Storgatan, Nørrevej)
STREET_SUFFIXES: tuple[str, ...] = (
    "straße", "strasse", "str.", "weg", "platz", "allee", "gasse", "damm", "ufer", "straat", "laan", "plein",
    "gracht", "kade", "gatan", "vägen", "vagen", "vej", "gade", "veien", "katu", "tie",
)

#: words of post-office boxes and address-line extras
ADDRESS_EXTRAS: frozenset[str] = _words("""
apt apartment suite ste unit floor fl po box postfach bp boîte boite apartado casilla piso puerta
""")

# --- countries -----------------------------------------------------------------------------------------
#: ISO 3166-1 alpha-2 codes
COUNTRY_ALPHA2: frozenset[str] = _words("""
ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bl bm bn bo bq br bs bt bv
bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg eh er es
et fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie
il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly
ma mc md me mf mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu
nz om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm
sn so sr ss st sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug um us uy uz va vc ve
vg vi vn vu wf ws ye yt za zm zw uk xk
""")

#: ISO 3166-1 alpha-3 codes
COUNTRY_ALPHA3: frozenset[str] = _words("""
and are afg atg aia alb arm ago ata arg asm aut aus abw ala aze bih brb bgd bel bfa bgr bhr bdi ben
blm bmu brn bol bes bra bhs btn bvt bwa blr blz can cck cod caf cog che civ cok chl cmr chn col cri
cub cpv cuw cxr cyp cze deu dji dnk dma dom dza ecu est egy esh eri esp eth fin fji flk fsm fro fra
gab gbr grd geo guf ggy gha gib grl gmb gin glp gnq grc sgs gtm gum gnb guy hkg hmd hnd hrv hti hun
idn irl isr imn ind iot irq irn isl ita jey jam jor jpn ken kgz khm kir com kna prk kor kwt cym kaz
lao lbn lca lie lka lbr lso ltu lux lva lby mar mco mda mne maf mdg mhl mkd mli mmr mng mac mnp mtq
mrt msr mlt mus mdv mwi mex mys moz nam ncl ner nfk nga nic nld nor npl nru niu nzl omn pan per pyf
png phl pak pol spm pcn pri pse prt plw pry qat reu rou srb rus rwa sau slb syc sdn ssd swe sgp shn
svn sjm svk sle smr sen som sur stp slv sxm syr swz tca tcd atf tgo tha tjk tkl tls tkm tun ton tur
tto tuv twn tza ukr uga umi usa ury uzb vat vct ven vgb vir vnm vut wlf wsm yem myt zaf zmb zwe xkx
""")

#: country names (English plus common native / other-language forms), lower case
COUNTRY_NAMES: frozenset[str] = frozenset(n.strip() for n in """
afghanistan|albania|algeria|andorra|angola|argentina|armenia|australia|austria|azerbaijan|bahamas|
bahrain|bangladesh|barbados|belarus|belgium|belize|benin|bhutan|bolivia|bosnia and herzegovina|botswana|
brazil|brunei|bulgaria|burkina faso|burundi|cambodia|cameroon|canada|cape verde|central african republic|
chad|chile|china|colombia|comoros|congo|costa rica|croatia|cuba|cyprus|czech republic|czechia|denmark|
djibouti|dominica|dominican republic|ecuador|egypt|el salvador|equatorial guinea|eritrea|estonia|eswatini|
ethiopia|fiji|finland|france|gabon|gambia|georgia|germany|ghana|greece|grenada|guatemala|guinea|
guinea-bissau|guyana|haiti|honduras|hong kong|hungary|iceland|india|indonesia|iran|iraq|ireland|israel|
italy|ivory coast|côte d'ivoire|jamaica|japan|jordan|kazakhstan|kenya|kiribati|kosovo|kuwait|kyrgyzstan|
laos|latvia|lebanon|lesotho|liberia|libya|liechtenstein|lithuania|luxembourg|macau|madagascar|malawi|
malaysia|maldives|mali|malta|marshall islands|mauritania|mauritius|mexico|micronesia|moldova|monaco|
mongolia|montenegro|morocco|mozambique|myanmar|namibia|nauru|nepal|netherlands|the netherlands|holland|
new zealand|nicaragua|niger|nigeria|north korea|north macedonia|macedonia|norway|oman|pakistan|palau|
palestine|panama|papua new guinea|paraguay|peru|philippines|poland|portugal|puerto rico|qatar|romania|
russia|russian federation|rwanda|saint lucia|samoa|san marino|saudi arabia|senegal|serbia|seychelles|
sierra leone|singapore|slovakia|slovenia|solomon islands|somalia|south africa|south korea|korea|
south sudan|spain|sri lanka|sudan|suriname|sweden|switzerland|syria|taiwan|tajikistan|tanzania|thailand|
timor-leste|togo|tonga|trinidad and tobago|tunisia|turkey|türkiye|turkiye|turkmenistan|tuvalu|uganda|
ukraine|united arab emirates|uae|united kingdom|great britain|britain|england|scotland|wales|
northern ireland|united states|united states of america|america|usa|u.s.|u.s.a.|uk|uruguay|uzbekistan|
vanuatu|vatican|vatican city|venezuela|vietnam|viet nam|yemen|zambia|zimbabwe|greenland|faroe islands|
deutschland|österreich|oesterreich|schweiz|suisse|svizzera|frankreich|spanien|italien|niederlande|
belgien|dänemark|daenemark|schweden|norwegen|finnland|polen|tschechien|ungarn|griechenland|
vereinigtes königreich|vereinigte staaten|russland|china|japan|indien|brasilien|
allemagne|autriche|espagne|italie|pays-bas|belgique|danemark|suède|suede|norvège|norvege|finlande|
pologne|grèce|grece|royaume-uni|états-unis|etats-unis|chine|japon|inde|brésil|bresil|mexique|
alemania|españa|espana|francia|italia|países bajos|paises bajos|bélgica|belgica|suecia|noruega|
polonia|grecia|reino unido|estados unidos|brasil|méxico|japón|japon|
germania|spagna|paesi bassi|svezia|regno unito|stati uniti|
nederland|duitsland|frankrijk|spanje|italië|belgië|belgie|verenigd koninkrijk|
sverige|norge|danmark|suomi|ísland|polska|česko|cesko|magyarország|magyarorszag|ελλάδα|россия|
日本|中国|대한민국|भारत
""".replace("\n", "").split("|") if n.strip())

#: ISO 4217 currency codes (current ones plus a few common historic/crypto tickers)
CURRENCY_CODES: frozenset[str] = frozenset(c.upper() for c in _words("""
aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob bov brl bsd btn bwp byn
bzd cad cdf che chf chw clf clp cny cop cou crc cuc cup cve czk djf dkk dop dzd egp ern etb eur fjd
fkp gbp gel ghs gip gmd gnf gtq gyd hkd hnl hrk htg huf idr ils inr iqd irr isk jmd jod jpy kes kgs
khr kmf kpw krw kwd kyd kzt lak lbp lkr lrd lsl lyd mad mdl mga mkd mmk mnt mop mru mur mvr mwk mxn
mxv myr mzn nad ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr
sdg sek sgd shp sle sll sos srd ssp stn svc syp szl thb tjs tmt tnd top try ttd twd tzs uah ugx usd
usn uyi uyu uyw uzs ved ves vnd vuv wst xaf xag xau xcd xdr xof xpd xpf xpt xsu xua yer zar zmw zwl
btc eth usdt
"""))

#: currency symbols seen before or after amounts
CURRENCY_SYMBOLS: str = "$€£¥₹₽₩₺₪₫฿₴₦₱₲₡₵₸₭₮₾﷼"

#: common top-level domains (two-letter country TLDs are taken from COUNTRY_ALPHA2)
TLDS: frozenset[str] = _words("""
com org net edu gov mil int info biz io co ai app dev cloud online site shop store tech xyz me tv cc
eu asia name pro mobi museum aero coop jobs travel local internal lan corp home arpa blog news live
page email agency digital systems solutions services company group global world network media
""") | COUNTRY_ALPHA2

#: US state and Canadian province codes (two-letter columns made of these are regions, not countries)
REGION_CODES: frozenset[str] = _words("""
al ak az ar ca co ct de fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv nh nj nm ny nc nd
oh ok or pa ri sc sd tn tx ut vt va wa wv wi wy dc pr ab bc mb nb nl ns nt nu on pe qc sk yt
""")

# --- more given names and surnames (second pass: broader coverage per country) --------------------------
_FIRST_MORE = """
aaron abel abraham ada adele adolf agnes alba albin alfons alfred alina alma alois amalia amadeo amanda
ambrose amos anastasia andré anders angelika anita annette annie anton antonella antonin april ariel
armin arnaud arne arno aron astrid august augusta aurelio axel babette balthasar barnaby bastian beatrix
bella benedikt benno bernadette bernhard berta bertha bettina bianka birgit björn blanca bodo bogdan
boris brigitta britta bruno burkhard calvin camille candela carina carl carlo carmela carmelo carolin
casimir cäcilie cecilia cedric celia charlene charlotta chiara christa christel christiane christina
christoph cindy clara claus clemens colin conrad constanze cornelia cornelius cosima curt dana dario
delia detlef detlev diego dietmar dietrich dina dirk dolores dominika donatella dora doreen dorothea
edgar edith edmund egon eike elfriede elias elisa elise ella elly elmar elsa else elvira emil emilio
emma enno enrique erich erik erna ernesto ernst erwin esteban estelle eugen eugenia eva evelin ewald
fabian fabio fatma felicitas ferdinand filippa flavio flora florentina florian franz franziska frida
friedhelm friedrich fritz gabi gaby georg georgia gerda gerhard gerlinde gernot gert gertrud gianni
gilbert gisela gitta giuseppe gottfried greta gretchen gudrun guido gunnar gunter gustav hanna hannelore
hannes harald hartmut hedwig heidi heike heiko heinrich heinz helena helene helga helmut henning henri
henrike herbert heribert hilde hildegard horst hubert hugo ida ignaz ilona ilse imke ines inga inge
ingeborg ingo ingrid irene iris irma isa isidor jakob janina janine jens jerome joachim jochen johann
johanna jonathan josef josefine jost judith julian juliane julius jupp justus jutta kai karin karla
karl-heinz karola karsten kaspar katharina kathleen katja kerstin kevin kira klaus knut konrad
konstantin kornelia kristin kurt larissa lea leni leo leon leonhard leopold liane lilli lina linus
lisa lore lorenz lothar lotte louisa lucas ludger ludmila ludwig luise lutz magdalena maik malte
manfred mareike margarete margot margrit maria marianne marie-luise marija marina mario marion marius
marko marlene marta marten martha martina mathilde matthias maximilian meike melanie meta michaela
mina minna miriam mirko mona moritz nadine nadja natalie nelli nicolai nico nicole nils nina norbert
olaf oliver ortwin oskar ottilie otto pascal patricia paula pauline peggy philipp pia rainer ralf
regina reiner reinhard reinhold renate rene richard rita robert roland romy rosa rosemarie rosi rudi
rudolf ruth sabine sabrina sandra sara sascha sebastian selma siegfried sieglinde sigrid silke simone
sonja stefanie steffen susanne svea svenja swen sylvia tamara tanja tatjana thea theo theresia thilo
thomas tilo tim timo tina tobias toni torben udo ulf ulla ulrich ulrike ursula ute uwe valentin vera
verena veronika viktor viktoria vincent volker waldemar walter waltraud wendelin werner wilfried wilhelm
wilhelmine willi willy wolf wolfgang xaver yvonne zacharias
adela adolfo adriana agustina aitana alejandra alfonso alfredo amparo anabel andrea ángela anselmo
araceli ariadna armando arturo asunción aurora bartolomé begoña benito bernardo blas bruno candelaria
carolina casimiro catalina cayetano celia celestino chelo ciro clemente consuelo covadonga cristóbal
damián dámaso diana dionisio domingo dorotea edelmira eduardo efraín elías eloy elvira emiliano
encarnación epifanio esperanza estefanía esteban eugenio eusebio evaristo fabián faustino federico
felipe felisa fermín fidel flora florencio fortunato gabino gaspar genaro gerardo germán gilberto
gloria gregorio gustavo heliodoro herminia hilario horacio humberto ildefonso inmaculada isaac
isidoro isidro jacinto jenaro jerónimo joaquina jonatan josué juana julián juliana justina ladislao
leandro leocadia leonardo leonor leopoldo lidia lorena lorenzo lourdes luciano luisa macarena
marcelino marcelo marcial margarita maribel mariano marina marisol matías maximiliano melchor milagros
modesto moisés nacho narciso natividad nazario nicanor nicolás noé octavio olga osvaldo pascual
paloma patricio paz pilar plácido porfirio primitivo purificación quique rafaela ramiro reinaldo
remedios reyes rigoberto roberto rodolfo rogelio rolando román rosalía rufina rufino sabina salomé
samuel sancho saturnino sebastián serafín severino silvestre simón sonia soraya susana tadeo teodoro
teófilo tobías toribio trinidad ulises urbano valentín valeriano venancio verónica vicenta victoriano
virgilio yolanda zacarías
adamo adele adelmo adriano agata agostino alba albano alda aldo alessio alfio amadeo amedeo amalia
ambra annalisa antonello arianna armando arnaldo arturo assunta attilio augusto aurelio azzurra baldassarre
benedetta benito bettino bonifacio brunella calogero camillo carmine cesare cesira ciro clelia concetta
corrado cosimo costanza dalila damiano dante delfina demetrio desiderio dino donato dorotea egidio elio
eliana elisabetta elvira ennio enzo ermanno ernesto ettore eugenio ezio fabrizio fausto ferdinando
ferruccio fiorella flavia fortunato franca fulvio gaetano gastone gelsomina germano giacinto gilberto
gina gino gioele gioacchino giordano giorgio girolamo gisella giuliano giulio gregorio guido ida ignazio
ilaria imelda ines irene isabella italo ivano lamberto lazzaro lea leonardo letizia liliana livia lorena
loredana lucia luciana ludovico maddalena manuela marcello margherita mariano marisa martino massimiliano
matilde maurizio melissa milena mirella nadia natale nazzareno nello nerina nico nunzia oreste orlando
ornella osvaldo ottavio pasquale patrizia piera piero pietro pio primo renato renzo rocco romano romeo
rosalba rosanna rosario sabrina santino saverio sebastiano severino silvano silvio sonia tiziana
tiziano ugo umberto valerio vanessa veronica vinicio viola virginia vito vittorio walter zaira
aarti abhay abhinav achyut aditi adil advait akhil akshay alok amar amrita anand ananya anil anirudh
anjali ankita anshul anup anupama apoorva archana arnav arpit aruna arvind asha ashish ashwin atul
avinash ayush babita bhanu bharat bhavna chaitanya chandan chandra charu chetan daksh darshan deepa
deepti dev devika dhruv dilip disha ekta esha farhan gagan gauri gayatri girish gita govind gurpreet
hardik harish harpreet hemant himani indira isha ishita jagdish jasmine jaspreet jaya jayant jeevan
kajal kalpana kamal kamala kanika kartik kashish kaveri keshav kishore komal krishna kriti kunal
lakshman lata madhav madhu mahima manisha mansi meenakshi mehul mohit monika mukul namrata nandini
narayan neelam neeraj nidhi nilesh nirmala nitin nupur omkar padma pallavi parth payal pooja prabhat
pranav prashant prateek pratibha pravin prem preeti prerna priyanka puneet radhika raghu rahul rajat
rajendra rajesh rakhi ramesh rashmi ravindra reena rekha rishabh ritika rohan ruchi sagar sakshi
samir sandhya sangeeta sanjana sarita satish saurabh savita seema shalini shanti sharad shashi shikha
shilpa shobha shruti siddharth simran smita sneha somnath sonal subhash sudha sumit sunita suraj
surbhi sushma swapna tanvi tanya tejas trisha tushar uma urmila vaibhav vandana varsha vasant ved
vidya vikas vinay vineet vishal vivek yamini yogesh zoya
adrian alan albert aleks aleksander aleksandra alicja amelia andrzej aniela antoni arkadiusz artur
bartłomiej bożena bronisław cezary czesław dagmara daniel danuta dominik edyta eliza emil emilia
ewelina feliks franciszek gabriela genowefa grażyna halina helena henryk hubert igor ilona irena
iwona izabela jacek jadwiga jarosław jolanta julian julianna kacper kazimierz klaudia konrad
kornelia krystian krzysztof lech leokadia leon leszek lidia lucjan ludwik łucja maciej małgorzata
marcel marianna mariola marzena michalina mieczysław mikołaj milena mirosław nikola norbert oskar
patryk paula paulina przemysław radosław renata roman ryszard sabina seweryn sławomir stefan
sylwia tadeusz tymon tymoteusz urszula wacław waldemar wanda wiesław wiktor witold władysław
zbigniew zdzisław zenon zuzanna żaneta
agnes albertine alexandra aline amandine anaïs angèle annabelle anne-marie antoinette armelle arnaud
audrey aurore axelle bastien benjamin bertrand blanche brice bruno camille carole cécile charlotte
christelle claude clémence coralie corinne cyril cyrille damien delphine denise dorothée edmond
edouard élisabeth éloïse emmanuel emmanuelle étienne eugène fabienne fabrice florence florian
francine gaëlle gaston geneviève georges gilles gisèle grégoire grégory hélène henri hervé honoré
hortense huguette inès isabelle jacqueline jacques jean-baptiste jean-claude jean-luc jean-marc
jean-paul jeannine jérémie joël josé josiane jules julien laetitia laurence léa léon léonie lionel
lise loïc lorraine lucie lucien ludovic lydie madeleine marc marcel marcelle margot marguerite
marie-claire marie-france martine maryse maurice michèle mireille murielle noël noémie odette
olivier pascale patrice paulette philippine raymond régine régis rémi renée richard roger roland
rolande romain rosalie sabine salomé sébastien serge simone solange suzanne sylvain tristan valentin
vanessa victor virginie xavier yann yannick yvonne
aagje anke annelies anneke arie bep bert bram cees coen corry daan dirk-jan dorien eelco eline erwin
evert femke frans frits gerda gert-jan gijsbert harm hein henk-jan hidde hilde ineke janneke jasper
jelmer jeltje joep jop joris jorien jozef jurgen kees-jan klaas-jan koos lieke lonneke maaike marijke
marjolein martien mathijs meike merel mink nienke noud olaf pim pleun quinten rens rianne rob roel
roos ruud sjaak sjef stefan tjitske tom toon trijntje vincent wendy wietske willemijn wouter yvonne
ebba edvin eja elof elvira erland folke göran gösta hampus harald helge hjalmar holger ivar jarl
jöns kerstin kjell leif lennart lisbeth maj margit mats mona nils-erik ove pernilla ragnar rune
sigvard stellan sune tage torbjörn tove ulf valdemar viveka yngve åke
aksel anders-peter asger bent birthe bodil dorte ejnar erling finn gorm grethe gudrun henrik inge
jette jytte karen knud lillian lis lise lone mogens niels-peter poul preben svend tage tove vagn
aino-maija eija eino elina esa hannu ilkka irma jaakko jorma kalevi kirsi lauri marja-liisa markku
martti merja mervi minna-maria niina oiva onni outi paavo pentti pirjo raija reijo risto ritva seppo
simo sirkka tapani tapio tarja terhi toivo tuomo ulla-maija unto urho veikko vesa väinö
"""
_LAST_MORE = """
abel adam albers arndt bachmann bader barth bartels bartsch baum bayer beckmann behrendt behrens bender
berg bergmann bischoff blum bock bode böttcher brandl brand brauer brenner brinkmann bruns buchholz
buck burger busch buschmann dietz döring dorn ebert eckert ehlers eichhorn engel engelhardt ernst fiedler
fink fischer fleischer frey freitag fricke fritz fritsch fuhrmann gebhardt geiger gerber glaser göbel
goetz götz graf grimm gross haase hagen hahn hamann hammer hansen harms hartung hauser heinemann heinz
heller hempel henke hennig herbst herzog hess hesse hildebrandt hinz hirsch hoffmann hofmann holz
hoppe horn huber jacobs jahn janssen jansen jung kaiser kamp karl kaufmann keller kern kessler kirchner
klein klemm koch köhler kolb koller konrad kramer kraus krause krebs kroll krug kruse kuhn kunz kurz
lang lange lehmann lenz lorenz lutz maas mack marx mayer meier meister menzel merkel metzger michel
mohr moser münch nagel naumann neubauer neumann nickel niemann noack nowak otto pape paul peter pfeiffer
pietsch pohl popp prinz rau rausch reimann reuter richter riedel rieger ritter roth rothe rudolph
runge sauer schade schäfer schiller schindler schlegel schmid schmitz schneider scholz schott schramm
schreiber schubert schütz schultz schulz schumann schuster schwab schwarz seidel seifert sommer
spies stahl stark steffen stein steiner stephan stolz strauss thiel thomas ullrich unger vogel voigt
vogt wagner walter weber wegner weis weiss wendt werner westphal wiese wild wilhelm will winkler
winter wirth witt wolf wolff wolter zander zimmer zimmermann
abad acosta aguado alarcón alcaraz alemán alfaro almeida alonso amador anaya andrés aparicio aranda
arenas arroyo ávila ayala barrera barrios bautista beltrán bermúdez blanco bueno bustos caballero
cabello calderón calero camacho campos carrillo casado castaño castellano castro cepeda cerdá cervantes
chacón cisneros collado contreras córdoba corral cuesta cuevas dávila diez domingo duarte echeverría
escobar escudero espinosa esteban estévez falcón feliú ferrández ferrándiz figueroa franco fuentes
galán galindo gallego gálvez gamboa garrido gil giménez godoy granados guerra guillén hernando
herrero hidalgo hurtado ibarra iglesias jurado lara león linares llorente lozano lucas luna macías
maldonado manzano marco mármol márquez mata mateo medina mejía meléndez mena mendoza mesa miranda
molina montero montes mora morales morán moya muñoz navarro nieto noguera núñez ocaña olmos ortega
osorio otero pacheco padilla palacios palomo pardo paredes pascual pastor peña peralta pineda pizarro
plaza ponce pozo prado prieto puerta puga quesada quintana quintero quiroga ramos redondo reina
rey rivas rivera robles rocha rojas roldán romero rosado rosales rubio rueda ruiz saavedra salas
salazar salcedo salinas samper sanabria sandoval santamaría santana santos sanz sarmiento segura
serrano sierra silva solís soria sosa suárez tapia tejada tello toledo torres trujillo urbano
valdés valencia valero vallejo varela vargas vega velasco velázquez vera vicente vidal villa
villalobos villanueva zamora zapata
abate accardi agostini alberti albanese amato anelli angelini antonelli aquilani arena bassi
battaglia bellini benetti berti bertolini bianco bonetti borrelli bosco brambilla bruno caputo carbone
cardinale carli caruso castelli cattaneo cavallo cecchi celentano cocco colombo coppola corsi costa
cristiani d'amico de-luca de-rosa de-santis donati esposito fabbri fadda farina ferrara ferraro
ferri fontana franchi galli gallo gatti gentile giordano giuliani grassi greco guerra guidi lombardi
longo lucchesi magnani mancini marchi marini martini mazza melis messina milani montanari monti
morelli moretti negri neri orlando pace pagano palmieri parisi pellegrini piras pozzi rinaldi riva
rizzi rizzo romano romeo rossetti rossi ruggiero russo sala salvi santoro sartori serra silvestri
simonetti sorrentino spinelli testa tosi valentini vitale zanetti
ahuja bajaj banerjee bhat bhatt biswas chandra chawla chopra dalal dhillon dixit garg gill goel
grewal hegde iyer jha joshi kapoor kaur khanna kohli krishnan kumar mahajan malik mehra menon
mishra mittal nair narang oberoi pandey parekh patil prasad puri rajan rana rastogi rathi sahni
saini sandhu sarkar sastry sethi shetty shukla singhal sood subramaniam suri swaminathan talwar
tandon thakkar tiwari trivedi upadhyay vaidya varma venkataraman wadhwa yadav zaveri
bakker bosman brink dekker de-graaf de-jong de-vos gerritsen hermans hoekstra huisman jonker
kamp kuipers meijer molenaar mulder nijhuis peeters post postma prins schipper smeets smit
spijker stam steenbergen timmermans van-dam van-der-berg veenstra verbeek verhoef vermeer visser
vos wijnands willemsen zwart
"""

#: Chinese / Japanese / Korean surnames in their own script (a CJK name is recognised by its first characters)
CJK_SURNAMES: frozenset[str] = _words("""
佐藤 鈴木 高橋 田中 伊藤 渡辺 山本 中村 小林 加藤 吉田 山田 佐々木 山口 松本 井上 木村 林 斎藤 清水 山崎 森 池田 橋本
阿部 石川 山下 中島 石井 小川 前田 岡田 長谷川 藤田 後藤 近藤 村上 遠藤 青木 坂本 斉藤 福田 太田 西村 藤井 金子 岡本
藤原 中野 三浦 原田 中川 松田 竹内 小野 田村 中山 和田 石田 森田 上田 原 内田 柴田 酒井 宮崎 横山 高木 安藤 宮本 大野
小島 工藤 谷口 今井 高田 丸山 増田 杉山 村田 大塚 小山 平野 新井 藤本 河野 上野 武田 野口 松井 千葉 岩崎 菅原 木下
久保 佐野 野村 松尾 菊地 杉本 市川 古川 大西 島田 水野 桜井 高野 渡部 吉川 山内 西田 飯田 菅野 中西 服部 樋口 福島
川口 永井 松岡 田口 山中 森本 土屋 矢野 広瀬 秋山 石原 松下 大橋 松浦 吉村 岩田 馬場 浅野 小松 荒木 大久保 野田 小池
熊谷 宇野 津田 伊東 山岸 吉本 喜嶋 宮沢 江古田 笹田 三宅 宇都宮 小西 坂口 中田 若松 浜田 渚 青田
王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗 郑 梁 谢 宋 唐 许 韩 冯 邓 曹 彭 曾 肖 田 董 袁 潘 于 蒋 蔡
余 杜 叶 程 苏 魏 吕 丁 任 沈 姚 卢 姜 崔 钟 谭 陆 汪 范 金 石 廖 贾 夏 韦 付 方 白 邹 孟 熊 秦 邱 江 尹 薛 闫 段 雷 侯
龙 史 陶 黎 贺 顾 毛 郝 龚 邵 万 钱 严 覃 武 戴 莫 孔 向 汤
張 劉 陳 楊 黃 趙 吳 孫 馬 鄭 謝 許 韓 馮 鄧 彭 蕭 董 葉 蘇
김 이 박 최 정 강 조 윤 장 임 한 오 서 신 권 황 안 송 류 전 홍 고 문 양 손 배 백 허 유 남 심 노 하 곽 성 차 주 우 구
민 진 지 엄 채 원 천 방 공 현 함 변 염 여 추 도 소 석 선 설 마 길 연 위 표 명 기 반
왕 금 옥 육 인 맹 제 모 남궁 황보 제갈
""")

#: typical surname endings (Nordic -sen/-son, Slavic -ski/-ova/-wicz, Italian -ini/-elli, Greek -opoulos, ...)
SURNAME_ENDINGS: tuple[str, ...] = (
    "sson", "ssen", "sen", "son", "ski", "ska", "cki", "cka", "dzki", "wicz", "czyk", "czak", "ova", "ová", "ov",
    "ev", "enko", "chuk", "yuk", "ini", "elli", "etti", "otti", "ucci", "acci", "uzzi", "escu", "oulos", "akis",
    "idis", "oglu", "ian", "yan", "dze", "shvili", "mann", "inen", "ainen", "strom", "berg", "gren", "lund",
    "qvist", "quist", "holm", "dottir", "ovich", "evich", "vic", "aiah", "ez", "ães", "eira", "ieri", "iero",
    "ardi", "aldi", "eau", "ault", "ier", "mayer", "meier", "huber", "bauer",
)

#: words that make a value something other than a person's name: company forms, place words, connectors
NOT_NAMES: frozenset[str] = _words("""
inc inc. ltd ltd. llc plc gmbh mbh ag kg ohg ug sa s.a. sas sarl srl spa s.p.a. bv nv oy oyj ab asa as a/s
corp corporation co company group holding holdings partners associates and und et & e.v. sons söhne gbr
kgaa cie cia ltda sl s.l. coop foundation stiftung verein bank university universität hospital hotel
school club store shop services solutions systems technologies international global consulting
lake port east west north south new san santa saint sankt mount fort bad upper lower great little
isle city town village county district street road avenue
session version mission vision lesson person reason season poison prison horizon station nation
option action addition edition position condition question ocean even seven eleven often garden
open chicken kitchen women children golden wooden listen heaven given taken broken ribbon cotton
button lemon salmon melon bacon canyon crayon dragon wagon
""")

_STREET_MORE = """
alley annex arcade bayou beach bend bluff bluffs bottom branch bridge brook brooks burg burgs bypass camp
canyon cape causeway center centre circles cliff cliffs club common commons corner corners course courts
cove coves creek crest crossing crossroad curve dale dam divide drives estate estates extension falls
ferry field fields flat flats ford fords forest forge forges fork forks fort freeway gateway glen glens
green greens groves harbor harbour harbors haven heights hill hills hollow inlet island islands isle
junction junctions key keys knoll knolls lakes land landing light lights loaf lock locks lodge loop mall
manor manors meadow meadows mill mills mission motorway mount mountain mountains neck orchard oval
overpass park parks pass path paths pine pines plain plains point points port ports prairie radial ramp
ranch rapid rapids rest ridge ridges river roads run shoal shoals shore shores skyway spring springs spur
spurs squares station stravenue stream streets summit throughway trace track trafficway trailer tunnel
underpass union unions valley valleys viaduct view views village villages ville vista walks wall ways
well wells wynd flat studio
alameda vial cuesta callejón callejon urbanización urbanizacion pasaje rambla vía cañada canada acceso
carrer pasadizo camí cami polígono poligono barrio bulevar
rotonda contrada borgo vico incrocio canale stretto traversa lungomare galleria
lago vale residencial feira rodovia viela vila conjunto quadra setor chácara chacara sítio sitio
condomínio condominio núcleo nucleo passarela ladeira trecho morro lagoa jardim loteamento distrito
fazenda colônia colonia campo aeroporto vereda esplanada
chowk marg path nagar gali galli road lane
torget gränd grand stigen backen allén plan leden slingan
stræde straede torv plads vænget vaenget
polku kuja kaari rinne raitti väylä vayla ranta mäki maki bulevardi
"""
STREET_WORDS = STREET_WORDS | _words(_STREET_MORE)
STREET_SUFFIXES = (*STREET_SUFFIXES, "ring", "pad", "hof", "singel", "dreef", "steeg", "dijk", "markt", "baan",
                   "lia", "berget", "bakken", "kollen", "stubben", "vegen", "gata", "stien", "haugen", "åsen",
                   "skogen", "svingen", "løkka", "tunet", "jordet", "kuja", "polku", "kaari", "rinne", "torget",
                   "gränd", "stigen", "backen", "stræde", "vænget", "gasse", "steig", "chaussee", "berg",
                   "straße", "strasse", "str", "engen", "enga", "sletta", "hagen", "toppen", "brekka", "myra",
                   "tjernet", "ekra", "lunden", "grenda", "plassen", "kroken", "spranget", "krysset", "dalen",
                   "marka", "holtet")
ADDRESS_EXTRAS = ADDRESS_EXTRAS | _words("flat studio h.no hno house no. nr piano scala int interno bloco lote casa")

FIRST_NAMES = FIRST_NAMES | _words(_FIRST_MORE)
SURNAMES = SURNAMES | _words(_LAST_MORE)

_COUNTRY_MORE = """
american samoa|anguilla|antarctica|antigua and barbuda|aruba|bermuda|bouvet island|british indian ocean territory|
british virgin islands|cayman islands|christmas island|cocos (keeling) islands|cook islands|cote d'ivoire|
curacao|curaçao|falkland islands|falkland islands (malvinas)|french guiana|french polynesia|
french southern territories|gibraltar|guadeloupe|guam|guernsey|heard island and mcdonald islands|
holy see (vatican city state)|holy see|isle of man|jersey|martinique|mayotte|montserrat|netherlands antilles|
new caledonia|niue|norfolk island|northern mariana islands|pitcairn islands|pitcairn|reunion|réunion|
saint barthelemy|saint barthélemy|saint helena|saint kitts and nevis|saint martin|saint pierre and miquelon|
saint vincent and the grenadines|sao tome and principe|são tomé and príncipe|slovakia (slovak republic)|
south georgia and the south sandwich islands|svalbard & jan mayen islands|svalbard and jan mayen|tokelau|
turks and caicos islands|united states minor outlying islands|united states virgin islands|
us virgin islands|wallis and futuna|western sahara|libyan arab jamahiriya|korea, republic of|
korea, democratic people's republic of|iran, islamic republic of|lao people's democratic republic|
syrian arab republic|micronesia, federated states of|moldova, republic of|tanzania, united republic of|
congo, the democratic republic of the|democratic republic of the congo|republic of the congo|
guinea bissau|timor leste|east timor|burma|swaziland|cabo verde|bosnia|herzegovina|
saint kitts|st. lucia|st lucia|bahamas, the|gambia, the|the gambia|the bahamas|
litauen|lettland|estland|weißrussland|weissrussland|slowakei|slowenien|kroatien|serbien|rumänien|bulgarien|
türkei|tuerkei|ägypten|aegypten|marokko|algerien|tunesien|südafrika|suedafrika|kanada|mexiko|kolumbien|
argentinien|chile|peru|australien|neuseeland|indonesien|philippinen|südkorea|nordkorea|saudi-arabien|
vereinigte arabische emirate|irak|jordanien|libanon|syrien|zypern|luxemburg|irland|island|portugal|
algérie|maroc|tunisie|égypte|egypte|afrique du sud|canada|mexique|argentine|chili|pérou|perou|colombie|
australie|nouvelle-zélande|indonésie|philippines|corée du sud|arabie saoudite|irlande|islande|
lituanie|lettonie|estonie|slovaquie|slovénie|croatie|serbie|roumanie|bulgarie|turquie|chypre|
suisse|autriche|hongrie|tchéquie|république tchèque|ukraine|biélorussie|russie|
alemania|austria|suiza|bélgica|países bajos|dinamarca|suecia|finlandia|irlanda|islandia|
lituania|letonia|estonia|eslovaquia|eslovenia|croacia|serbia|rumania|rumanía|bulgaria|turquía|chipre|
egipto|marruecos|argelia|túnez|sudáfrica|canadá|perú|colombia|australia|nueva zelanda|filipinas|
corea del sur|arabia saudita|emiratos árabes unidos|rusia|ucrania|hungría|república checa|
austria|svizzera|belgio|danimarca|finlandia|irlanda|islanda|lituania|lettonia|slovacchia|slovenia|
croazia|romania|turchia|cipro|egitto|marocco|sudafrica|messico|cile|perù|nuova zelanda|filippine|
corea del sud|arabia saudita|russia|ucraina|ungheria|repubblica ceca|
duitsland|oostenrijk|zwitserland|denemarken|zweden|noorwegen|finland|ierland|ijsland|litouwen|
letland|slowakije|slovenië|kroatië|servië|roemenië|bulgarije|turkije|cyprus|egypte|marokko|
zuid-afrika|mexico|chili|colombia|australië|nieuw-zeeland|filipijnen|zuid-korea|rusland|oekraïne|
hongarije|tsjechië|trinidad en tobago|
alemanha|áustria|suíça|bélgica|holanda|dinamarca|suécia|noruega|finlândia|irlanda|islândia|
lituânia|letônia|eslováquia|eslovênia|croácia|sérvia|romênia|bulgária|turquia|chipre|egito|
marrocos|áfrica do sul|méxico|colômbia|austrália|nova zelândia|filipinas|coreia do sul|rússia|
ucrânia|hungria|república tcheca|tanzânia|guiana|
tyskland|österrike|schweiz|belgien|nederländerna|danmark|sverige|norge|finland|irland|island|
storbritannien|frankrike|spanien|italien|polen|ryssland|kina|indien|japan|brasilien|kanada|
mexiko|usa|förenta staterna|sydafrika|egypten|marocko|turkiet|grekland|cypern|ungern|tjeckien|
schweiz|østrig|belgien|holland|sverige|norge|finland|irland|storbritannien|frankrig|spanien|
italien|polen|rusland|kina|indien|japan|brasilien|canada|mexico|usa|sydafrika|egypten|tyrkiet|
grækenland|cypern|ungarn|tjekkiet|marshall-øerne|
saksa|itävalta|sveitsi|belgia|alankomaat|tanska|ruotsi|norja|irlanti|islanti|iso-britannia|ranska|
espanja|italia|puola|venäjä|kiina|intia|japani|brasilia|kanada|meksiko|yhdysvallat|kypros|kreikka|
unkari|tšekki|turkki|egypti|marokko|etelä-afrikka|
niemcy|austria|szwajcaria|belgia|holandia|dania|szwecja|norwegia|finlandia|irlandia|wielka brytania|
francja|hiszpania|włochy|rosja|chiny|indie|japonia|brazylia|kanada|meksyk|stany zjednoczone|czechy|
węgry|grecja|turcja|ukraina|litwa|łotwa|estonia|słowacja
"""
COUNTRY_NAMES = COUNTRY_NAMES | frozenset(n.strip() for n in _COUNTRY_MORE.replace("\n", "").split("|") if n.strip())

# --- third pass: Central/Eastern European, Turkish, Indonesian, Vietnamese, Cyrillic, Greek ---------------
STREET_WORDS = STREET_WORDS | _words("""
náměstí namesti ulice třída trida nábřeží nabrezi námestie nábrežie nabrezie cesta
utca út ut tér ter körút korut köz koz sor fasor sétány setany rakpart útja
strada șoseaua soseaua şoseaua bulevardul calea aleea piața piata splaiul intrarea
jl jalan gg gang hẻm hem phố pho đường duong
ulica trg perivoj odvojak put obala prilaz šetalište
ул улица пр проспект просп бул бульвар пер переулок шоссе пл площадь наб набережная вулиця вул провулок пров
майдан бульв
οδός οδος πλατεία πλατεια λεωφόρος λεωφορος
sokak sokağı sokagi sk sok cadde caddesi cad mahallesi mah bulvarı bulvari
gatvė gatve iela prospektas
""")

#: markers of a house number ("Nr. 12", "No. 5", "д. 9", "буд. 3")
HOUSE_NUMBER_MARKERS: frozenset[str] = _words("nr no n° nº № num д дом буд house hno h.no number numero número")

FIRST_NAMES = FIRST_NAMES | _words("""
ahmet mehmet mustafa ali hüseyin huseyin hasan ibrahim ismail osman yusuf murat ömer omer ramazan halil
süleyman suleyman abdullah mahmut salih kemal recep orhan emre burak serkan volkan tolga cem can deniz
ayşe ayse fatma emine hatice zeynep elif meryem şerife serife sultan hanife merve büşra busra esra özlem
ozlem derya gamze selin ebru tuğba tugba dilek pınar pinar sibel songül songul yasemin
budi agus bambang joko dewi sri siti wahyu rudi hendra andi eko dian rina ratna yuli fitri putri
wayan made nyoman ketut adi agung bayu dimas fajar gilang hadi indra irfan jaya kurniawan rizki
tomas jonas mantas lukas darius rokas marius giedrius andrius vytautas ieva rūta ruta jūratė jurate
egle eglė greta gintarė gintare ausra aušra vaida
janis jānis andris juris peteris pēteris martins mārtiņš edgars kristaps inese ilze anna laura liga līga
""")

SURNAME_ENDINGS = (*SURNAME_ENDINGS,
                   # Russian, Ukrainian, Bulgarian (also with й folded to и)
                   "ов", "ев", "ёв", "ин", "ова", "ева", "ина", "ский", "скии", "ская", "цкий", "цкии", "цкая",
                   "енко", "ук", "юк", "чук", "ович", "евич", "овна", "евна", "ична", "ски", "ска", "як",
                   # Greek (accents folded)
                   "πουλος", "πουλου", "ακης", "ακη", "ιδης", "ιδη", "ιαδης", "ογλου", "ατος", "αιος",
                   # Lithuanian, Latvian
                   "auskas", "evicius", "avicius", "aitis", "iene", "aite", "yte", "unas", "nieks", "itis",
                   # Turkish, Indonesian (common surname formations)
                   "oglu", "soy", "kaya", "tas", "wati", "wan", "ono", "anto")
STREET_WORDS = STREET_WORDS | _words("""
drumul fundătura fundatura pasajul prelungirea
corredor andador cerrada circuito privada prolongación prolongacion retorno periférico periferico diagonal
continuación continuacion viaducto circunvalación circunvalacion boulevard
парк площа узвіз шосе набережна тупик проїзд алея
foreshore pocket outlook esplanade circuit rise retreat promenade quay ramble glade concourse chase
approach vale grange copse
خیابان کوچه بلوار راه میدان شارع ถนน ซอย
""")
#: street-type beginnings of compound street names (Thai ถนน…, ซอย…)
STREET_PREFIXES: tuple[str, ...] = ("ถนน", "ถ.", "ซอย")
NOT_NAMES = NOT_NAMES | _words("""
ville stad haven heights springs falls beach hills valley creek harbor harbour bay junction station center
centre borough burgh
ад ет оод еоод ооо зао оао пао ао ип тов пп
""")

#: words of campaigns, offers and products ("Spring Sale", "Black Friday", "Product Launch"): not a person's name
MARKETING_WORDS: frozenset[str] = _words("""
sale sales launch relaunch promo promotion promotions offer offers deal deals discount discounts coupon
campaign campaigns edition collection bundle special specials festival fest week weekend holiday holidays
christmas xmas easter halloween thanksgiving valentine valentines friday monday cyber clearance outlet event
events webinar newsletter giveaway contest sweepstakes anniversary kickoff summit release drop preview
outdoor indoor warmers essentials bestsellers arrivals favourites favorites deluxe premium pro mini
series pack plus lite ultra eco classic limited exclusive flash mega super
""")
NOT_NAMES = NOT_NAMES | MARKETING_WORDS
