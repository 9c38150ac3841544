"""The words that name a group of people in period and modern English (issue #39), by category.

Two users. The book corpus (bias_tooling/book_sentences.py) chose its candidate sentences with exactly these
lists, before any labelling and independently of the detector's lexicons: so the lists are frozen, and a word the
gate needs is added to the gate (understanding/bias_gate.py) or to lexicons/, never here, or a rebuild of the
corpus would pick other sentences. The gate (bias_gate.py) reads them as its period vocabulary, every category but
"other" (occupations, humankind: never scored). One consequence, said in docs/detectors.md: on the book corpus the
gate finds a group word in every sentence by construction, so the corpus measures what the gate's shape rules cost,
not its vocabulary. The list is broad and period-aware (the books are 18th-20th century): slurs and obsolete names
are here because the books use them."""

GROUP_WORDS = {
    "gender": [
        "women", "woman", "womankind", "womanhood", "ladies", "females", "the fair sex", "the weaker sex",
        "the sex", "wives", "mothers", "girls", "maidens", "matrons", "widows",
        "men", "husbands", "fathers", "boys", "gentlemen", "males", "manhood",
        "the stronger sex", "the other sex", "her sex", "his sex", "their sex",
    ],
    "ethnicity": [
        "negro", "negroes", "negress", "negresses", "nigger", "niggers", "darkey", "darkeys", "darkies",
        "sambo", "blacks", "black man", "black men", "black woman", "black women", "black people",
        "black folk", "whites", "white man", "white men", "white woman", "white women", "white people",
        "white folk", "coloured people", "colored people", "coloured man", "colored man", "coloured men",
        "colored men", "coloured woman", "colored woman", "coloured race", "colored race", "men of colour",
        "men of color", "people of color", "people of colour", "mulatto", "mulattoes", "mulattos", "quadroon",
        "quadroons", "creoles", "half-breed", "half-breeds", "half-caste", "half-castes", "savages",
        "a savage", "the savage", "barbarians", "barbarous nations", "natives", "the native", "aborigines",
        "aboriginal", "indians", "an indian", "the indian", "red men", "redskins", "squaw", "squaws", "braves",
        "hottentot", "hottentots", "kaffir", "kaffirs", "caffre", "caffres", "bushmen", "zulu", "zulus",
        "malay", "malays", "dyak", "dyaks", "dayaks", "papuan", "papuans", "chinaman", "chinamen", "coolie",
        "coolies", "orientals", "oriental", "asiatics", "asiatic", "moor", "moors", "arab", "arabs",
        "bedouin", "bedouins", "bedaween", "gipsy", "gipsies", "gypsy", "gypsies", "gitanos", "gitano",
        "esquimaux", "eskimo", "eskimos", "fuegians", "patagonians", "polynesians", "kanakas", "maoris",
        "africans", "ethiopians", "celts", "celtic race", "saxons", "anglo-saxons", "anglo-saxon race",
        "teutons", "teutonic race", "latin races", "slavs", "mongols", "tartars", "cannibals", "tribes",
        "tribe", "races", "his race", "her race", "their race", "our race", "that race", "this race",
        "the race", "a race", "races of men", "the white race", "the black race", "the yellow race",
        "the red race", "wild men", "jungle folk", "hispanic", "hispanics", "latinos", "latino", "asians",
        "african americans", "african-americans", "native americans", "minorities", "ethnic",
    ],
    "nationality": [
        "english", "englishman", "englishmen", "englishwoman", "englishwomen", "britons", "british",
        "scotch", "scots", "scotsman", "scotsmen", "scotchman", "scotchmen", "highlanders", "irish",
        "irishman", "irishmen", "irishwoman", "paddy", "paddies", "welsh", "welshman", "welshmen", "french",
        "frenchman", "frenchmen", "frenchwoman", "frenchwomen", "germans", "german", "dutch", "dutchman",
        "dutchmen", "spaniard", "spaniards", "spanish", "portuguese", "italians", "italian", "russians",
        "russian", "americans", "american", "yankee", "yankees", "chinese", "japanese", "turks", "turk",
        "turkish", "greeks", "swiss", "poles", "austrians", "prussians", "norwegians", "swedes", "danes", "mexicans",
        "brazilians", "peruvians", "chilians", "chileans", "gauchos", "persians", "egyptians", "bengalees",
        "canadians", "australians", "hungarians", "bohemians", "neapolitans", "parisians", "londoners",
        "venetians", "romans", "gauls", "goths", "scythians", "hollanders", "flemings", "castilians",
        "andalusians", "galicians", "basques", "catalans", "foreigners", "foreigner",
        "a nation", "a people", "national character", "countrymen", "fellow-countrymen",
    ],
    "religion": [
        "christians", "christian", "catholics", "catholic", "papists", "papist", "romanists", "protestants",
        "methodists", "quakers", "puritans", "dissenters", "jews", "jew", "jewess", "jewesses", "jewish",
        "hebrews", "hebrew", "israelites", "mahometans", "mahometan", "mohammedans", "mohammedan",
        "mussulmans", "mussulmen", "mussulman", "moslems", "moslem", "muslims", "muslim", "musulmans",
        "hindoos", "hindoo", "hindus", "hindu", "buddhists", "heathen", "heathens", "pagans", "pagan",
        "infidels", "infidel", "idolaters", "idolators", "atheists", "unbelievers", "priests", "priesthood",
        "monks", "friars", "nuns", "the clergy", "clergymen", "mormons", "jesuits", "pharisees", "gentiles",
        "the faithful", "missionaries",
    ],
    "age": [
        "old men", "old man", "old women", "old woman", "old people", "old folks", "the old", "the aged",
        "aged men", "elderly", "old maids", "old maid", "spinsters", "spinster", "bachelors", "young men",
        "young man", "young women", "young woman", "young people", "young ladies", "young girls",
        "youths", "the young", "children", "infants", "babies", "lads",
        "grown men", "grown-up people", "old age", "grandmothers", "grandfathers", "old fellows", "elders",
        "teenagers", "seniors", "the elderly",
    ],
    "disability": [
        "idiot", "idiots", "imbecile", "imbeciles", "lunatic", "lunatics", "madmen", "madman", "the insane",
        "the mad", "cripple", "cripples", "crippled", "the lame", "lame men", "the blind",
        "blind men", "blind man", "the deaf", "deaf and dumb", "deaf-mutes", "the dumb", "dwarfs", "dwarf",
        "hunchback", "hunchbacks", "invalids", "the infirm", "cretins", "cretin", "deformed",
        "feeble-minded", "half-witted", "simpletons", "disabled", "disabilities",
        "handicapped",
    ],
    "sexual_orientation": [
        "sodomites", "homosexual", "homosexuals", "lesbian", "lesbians", "gay men", "gay people",
        "gays", "bisexual", "transgender",
    ],
    "migration": [
        "immigrants", "immigrant", "emigrants", "emigrant", "aliens", "refugees", "refugee", "settlers",
        "colonists", "migrants", "exiles", "new-comers", "newcomers", "squatters", "pioneers",
    ],
    "socioeconomic": [
        "the poor", "poor people", "poor men", "poor women", "poor folk", "poor folks", "the poorer classes",
        "the poorer sort", "paupers", "pauper", "pauperism", "beggars", "beggar", "mendicants", "the rich",
        "rich men", "rich people", "the wealthy", "millionaires", "vagrants", "tramps", "vagabonds",
        "the destitute", "the needy", "the unemployed", "working class", "working classes",
        "working-class", "working-classes", "working men", "working-men", "working people", "workmen",
        "workers", "labourers", "laborers", "the labouring classes", "the laboring classes", "operatives",
        "factory hands", "the proletariat", "proletarians", "the bourgeoisie", "bourgeois",
        "capitalists", "the masses", "the homeless",
        "the idle",
    ],
    "class": [
        "the lower orders", "lower orders", "the lower classes", "lower classes", "the lower class",
        "the upper classes", "upper classes", "the middle classes", "middle classes", "middle class",
        "the higher classes", "aristocrats", "aristocracy", "aristocratic", "nobility", "nobles", "noblemen",
        "gentry", "peasants", "peasant", "peasantry", "servants", "servant", "domestics", "footmen",
        "maids", "slaves", "slave", "serfs", "the mob", "mobs", "the rabble", "the populace", "the vulgar",
        "the common people", "common people", "the people", "commoners", "plebeians", "the multitude",
        "crowds", "snobs", "parvenus", "upstarts", "tradesmen", "shopkeepers", "squires",
        "the squirearchy", "lords", "planters", "slaveholders", "slave-holders", "overseers",
        "rustics", "villagers", "cottagers", "country people", "country folk", "townspeople",
        "the high-born", "the low-born",
        "ruling class", "ruling classes", "rank and file",
    ],
    "physical_appearance": [
        "the ugly", "ugly women", "ugly men", "fat men", "fat women", "fat people", "beauties",
        "the beautiful", "redheads", "blondes", "brunettes", "dark-skinned", "fair-skinned", "the tall",
        "tall men", "short men",
    ],
    "other": [
        "sailors", "seamen", "soldiers", "lawyers", "attorneys", "doctors", "physicians", "surgeons",
        "parsons", "merchants", "traders", "bankers", "politicians", "statesmen", "authors",
        "poets", "artists", "philosophers", "scholars", "students", "critics", "hunters", "trappers",
        "fishermen", "farmers", "miners", "thieves", "criminals", "murderers", "drunkards", "mankind",
        "humanity", "human beings", "human race", "the human species", "men of letters", "men of science",
    ],
}

# words that are group names only when capitalised: lower-case they are a moor, a pole, a swede, a turkey...
CASE_SENSITIVE = {"moor", "moors", "turk", "turks", "swedes", "poles", "malay", "arab", "german", "french",
                  "english", "irish", "dutch", "spanish", "italian", "russian", "american", "chinese",
                  "japanese", "turkish", "welsh", "scotch", "christian", "catholic", "jewish", "hebrew",
                  "oriental", "asiatic", "indians", "an indian", "the indian", "pagan", "sambo", "paddy",
                  "dwarf", "hispanic", "latino", "muslim", "moslem", "mahometan", "mohammedan", "hindu",
                  "hindoo", "jew", "zulu", "hottentot", "kaffir", "papuan", "dyak", "bedouin", "gitano",
                  "eskimo", "coolie", "papist", "mussulman", "british", "aboriginal"}
