"""What an element's markup says about it being the site's logo: named features, scored in crawler.extract.candidates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import idna
from lxml import etree

from crawler.extract.brand import is_tracker
from crawler.extract.dom import Page, home_host, resolve_url

# Features that say "this could be the logo" (scored in crawler.extract.candidates.SIGNAL_POINTS).
LOGO_SIGNALS = frozenset({"itemprop_logo", "logo_own", "home_link", "logo_near", "brand_class", "logo_text",
                          "logo_src", "site_name", "domain_src"})
# Substrings: "logo" inside class names like "header__logo" or "siteLogo" counts.
LOGO_WORD = re.compile(r"logo|ロゴ|логотип|로고|标志|標誌|标识|商标")
HEADER_WORD = re.compile(r"header|masthead|navbar|nav-bar|topbar|top-bar|top-nav|site-nav|main-nav|branding")
# Headers of content blocks are not the site header.
CONTENT_HEADER = re.compile(
    r"(entry|post|card|modal|article|section|widget|product|comment|page|table|panel|block|content|blog|sub|dialog)[-_]*header"
)
FOOTER_WORD = re.compile(r"footer|colophon|site-info|copyright|bottom-bar|bottombar")
BRAND_TOKENS = frozenset(
    {"navbar-brand", "brand", "branding", "site-branding", "site-title", "custom-logo", "custom-logo-link",
     "site-logo", "header-logo", "logo", "brand-logo", "masthead-logo"}
)

# Word prefixes as regex fragments (class/id split on - and _; camelCase glued words still start with them).
DISTRACTOR_PREFIXES = (
    "partner", "client", "sponsor", "customer", "social", "payment", "paymethod", "appstore", "googleplay",
    "playstore", "badge", "flag(?!ship)", "trust", "featured", "press", "award", "certif", "testimonial", "brands",
    "logos", "integration", "powered", "affiliat", "supporter", "funder", "seen", "share(?!d)", "follow", "lang(?!ley)",
    "locale", "country", "member", "accredit", "review", "rating", "download", "poweredby",
)
COOKIE_PREFIXES = ("cookie", "consent", "gdpr", "ccpa", "onetrust", "cookiebot", "usercentrics", "cmp", "didomi",
                   "iubenda", "truste", "privacy")
CAROUSEL_PREFIXES = ("carousel", "slider", "slick", "swiper", "owl", "glide", "splide", "slideshow", "slide",
                     "flickity", "marquee", "ticker", "scroller")
HERO_PREFIXES = ("hero", "jumbotron", "banner", "cover", "splash", "promo")
DROPDOWN_PREFIXES = ("dropdown", "submenu", "megamenu", "mega", "flyout")
ICON_PREFIXES = ("icon", "hamburger", "burger", "menu", "search", "close", "arrow", "chevron", "caret", "cart",
                 "toggle", "play", "social", "share(?!d)")
ICON_WORDS = frozenset({"fa", "fas", "far", "fab", "bi", "glyph", "glyphicon", "svg-inline--fa"})
BAD_SRC_WORDS = frozenset(
    {"sprite", "sprites", "avatar", "avatars", "banner", "banners", "gravatar", "placeholder", "spinner",
     "loader", "loading", "flag", "flags", "emoji", "badge", "badges", "appstore", "googleplay", "payment",
     "payments", "visa", "mastercard", "paypal", "amex", "facebook", "twitter", "linkedin", "instagram",
     "youtube", "pinterest", "tiktok", "whatsapp", "hero", "slide", "slider", "partner", "partners", "client",
     "clients", "sponsor", "sponsors", "award", "awards", "cert", "certificate", "powered"}
)
PREFIX_GROUPS = {"distractor": DISTRACTOR_PREFIXES, "cookie": COOKIE_PREFIXES, "carousel": CAROUSEL_PREFIXES,
                 "hero": HERO_PREFIXES, "dropdown": DROPDOWN_PREFIXES, "icon": ICON_PREFIXES}
CONTEXT_GROUPS = ("distractor", "cookie", "carousel", "hero", "dropdown")  # looked for on every ancestor
# White/inverted logos are made for dark backgrounds; they vanish once flattened on white.
LIGHT_WORDS = frozenset({"white", "inverse", "inverted", "negative", "reverse", "reversed", "knockout"})
HOME_PATH = re.compile(r"^/?(?:(?:index|default|home|start)(?:\.\w+)?)?/?$|^/[a-z]{2}(?:[-_][a-z]{2,4})?/?$", re.I)
GENERIC_TITLES = frozenset({
    "home", "homepage", "home page", "welcome", "index", "main", "start", "official site", "official website",
    "startseite", "willkommen", "accueil", "bienvenue", "inicio", "bienvenido", "página inicial", "pagina iniziale",
    "strona główna", "главная", "главная страница", "anasayfa", "etusivu", "forside", "hjem", "startsida",
    "トップページ", "トップ", "ホーム", "首页", "主页", "首頁", "홈", "메인",
})
SECOND_LEVEL = frozenset({"co", "com", "org", "net", "gov", "ac", "edu", "ne", "or", "gob", "gv", "ltd", "plc"})
STATE_FLAGS = frozenset({"has", "is", "no", "with", "not", "can"})
# Section names in class/id are short, BEM ones included ('c-site-header__logo-link--mobile': 6 parts). Measured
# on the 114,596 class/id tokens of the 89 real pages (../shared/data/real-pages): 99.3 % have <= 6 parts, 935
# have 7-8 (component names among them: 'block-views-recent-slide-shows-jlft-block-1'), and the 133 above 8 are
# slugs and ids (article titles, 'hs-content-path-en-blog-...-social-data-...', 'cite_ref-...', UUIDs), whose
# words say nothing about the block: one such slug made audiense's header logo a "social" distractor.
MAX_NAME_PARTS = 8
MAX_TITLE = 200  # characters of a <title>'s start and of its end read for the site's name
TITLE_SPLIT = re.compile(r"\s+[-:/]\s+|\s*[|–—·•»«]\s*")


def norm(text: str | None) -> str:
    """Letters and digits only, case-folded: 'Acme Corp.' == 'acmecorp'."""
    return re.sub(r"[\W_]+", "", (text or "").casefold())


def words_of(attr_text: str) -> list[str]:
    """Class/id text -> words: 'client-logos__item' -> ['client', 'logos', 'item', 'clientlogositem'].

    Left out: state flags ('has_ae_slider', 'is-sticky': what a block may hold, not what it is) and slugs
    ('hs-content-path-en-blog-twin-peaks-...-social-data': a page's name, whose words are its title's)."""
    out = []
    for token in attr_text.lower().split():
        parts = [w for w in re.split(r"[-_:]+", token) if w]
        if not parts or parts[0] in STATE_FLAGS or len(parts) > MAX_NAME_PARTS:
            continue
        out.extend(parts)
        out.append(re.sub(r"[-_:]+", "", token))
    return out


def prefix_pattern(prefixes: tuple[str, ...], own_label: str) -> re.Pattern[str]:
    """Matches a word starting with one of the prefixes, leaving out prefixes inside the site's own name."""
    kept = [p for p in prefixes if p.split("(")[0] not in own_label] or ["(?!)"]
    return re.compile(r"(?:^|\s)(?:" + "|".join(kept) + ")")


def domain_label(domain: str) -> str:
    """'shop.acme.co.uk' -> 'acme': the registrable name people call the site by."""
    labels = [label for label in domain.lower().split(".") if label]
    if len(labels) < 2:
        return labels[0] if labels else ""
    label = labels[-3] if len(labels) >= 3 and labels[-2] in SECOND_LEVEL and len(labels[-1]) == 2 else labels[-2]
    try:
        return idna.decode(label) if label.startswith("xn--") else label
    except idna.IDNAError:
        return label


def title_name(title: str, label: str) -> str:
    """The part of a <title> that names the site: the one matching the domain, else skip 'Home', else first."""
    # a site's name sits at a title's start or end; the split backtracks on long runs of spaces
    title = title if len(title) <= 2 * MAX_TITLE else f"{title[:MAX_TITLE]} | {title[-MAX_TITLE:]}"
    parts = [p.strip() for p in TITLE_SPLIT.split(title) if p.strip()]
    if not parts:
        return ""
    label_norm = norm(label)
    for part in parts:
        part_norm = norm(part)
        if label_norm and part_norm and (label_norm in part_norm or (len(part_norm) >= 3 and part_norm in label_norm)):
            return part
    if len(parts) > 1 and norm(parts[0]) in {norm(g) for g in GENERIC_TITLES}:
        return parts[-1]
    return parts[0]


def meta_content(root: etree._Element, *keys: str) -> str:
    """First non-empty <meta property|name|itemprop=key content> among keys, in key order."""
    wanted = {key.lower(): i for i, key in enumerate(keys)}
    found: dict[int, str] = {}
    for el in root.iter("meta"):
        for attr in ("property", "name", "itemprop"):
            key = (el.get(attr) or "").strip().lower()
            content = " ".join((el.get("content") or "").split())
            if key in wanted and content and wanted[key] not in found:
                found[wanted[key]] = content
    return found[min(found)] if found else ""


def page_site_name(page: Page) -> str:
    """og:site_name, application-name, the <title>'s site part, else the domain's label."""
    label = domain_label(page.domain)
    name = meta_content(page.root, "og:site_name", "application-name", "apple-mobile-web-app-title")
    if name:
        return name[:120]
    for el in page.root.iter("title"):
        title = " ".join("".join(el.itertext()).split())
        if title and (found := title_name(title, label)):
            return found[:120]
        break
    return label


@dataclass
class SiteSignals:
    """Per-page facts that every element is compared against."""

    page: Page
    name_norms: set[str] = field(default_factory=set)
    label: str = ""
    page_host: str = ""
    patterns: dict[str, re.Pattern[str]] = field(default_factory=dict)
    # Ancestors are shared by many elements: their (depth-independent) features are computed once.
    ancestor_cache: dict[etree._Element, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, page: Page) -> SiteSignals:
        label = domain_label(page.domain).lower()
        names = {norm(page_site_name(page)), norm(label), norm(page.domain)}
        host = home_host(urlsplit(page.url).hostname or "")
        patterns = {name: prefix_pattern(prefixes, label) for name, prefixes in PREFIX_GROUPS.items()}
        return cls(page=page, name_norms={n for n in names if len(n) >= 2}, label=label, page_host=host,
                   patterns=patterns)

    def has(self, group: str, words: list[str]) -> bool:
        """Any of the words starts with a prefix of the group (distractor, cookie, carousel...)."""
        return bool(self.patterns[group].search(" ".join(words)))

    def is_home(self, href: str | None) -> bool:
        url = resolve_url(href, self.page.base)
        if not url or url.startswith("data:"):
            return False
        parts = urlsplit(url)
        if home_host(parts.hostname or "") not in (self.page_host, self.page.domain):
            return False
        path = parts.path or "/"
        return bool(HOME_PATH.match(path)) or path == (urlsplit(self.page.url).path or "/")

    def names_site(self, text: str | None) -> bool:
        """Alt/title text that is the site's name, possibly with a word or two around it ('Acme logo')."""
        text_norm = norm(text)
        if not text_norm:
            return False
        return any(n == text_norm or (len(n) >= 4 and n in text_norm and len(text_norm) <= len(n) + 12)
                   for n in self.name_norms)


def _class_id(el: etree._Element) -> str:
    return f"{el.get('class') or ''} {el.get('id') or ''}".lower()


def ancestors(el: etree._Element) -> list[etree._Element]:
    """Parents up to, excluding, <body>/<html>: body classes like 'wp-custom-logo' say nothing about one image."""
    out = []
    parent = el.getparent()
    while parent is not None and parent.tag not in ("body", "html"):
        out.append(parent)
        parent = parent.getparent()
    return out


def context_features(el: etree._Element, site: SiteSignals) -> set[str]:
    """Header/footer/home-link and distractor features from the element's ancestors."""
    features: set[str] = set()
    chain = ancestors(el)
    for depth, anc in enumerate(chain):
        cached = site.ancestor_cache.get(anc)
        if cached is None:
            cached = site.ancestor_cache[anc] = _ancestor_features(anc, site)
        features |= cached
        if depth < 3:
            features |= _near_features(anc)
    if "header" in features and any(anc.tag in ("article", "aside") for anc in chain):
        features.discard("header")
    if "header" in features and _content_navigation(chain):
        features.discard("header")
    link = next((a for a in [el, *chain[:4]] if a.tag == "a"), None)
    if link is not None and site.is_home(link.get("href")):
        features.add("home_link")
    if {"header", "footer"} <= features:
        features.discard("header")  # a footer's own "footer-nav" header words: the footer wins
    return features


def _content_navigation(chain: list[etree._Element]) -> bool:
    """A navigation box inside the main content (sister projects, a table of contents), not the site header:
    inside <main>/role=main, with no <header>, role=banner or header-named block around it."""
    if not any(anc.tag == "main" or (anc.get("role") or "").lower() == "main" for anc in chain):
        return False
    return not any(anc.tag == "header" or (anc.get("role") or "").lower() == "banner"
                   or HEADER_WORD.search(_class_id(anc)) for anc in chain)


def _near_features(anc: etree._Element) -> set[str]:
    """Logo words count only on close parents (a wrapper three levels up says little)."""
    attrs = _class_id(anc)
    found = set()
    if LOGO_WORD.search(attrs):
        found.add("logo_near")
    if BRAND_TOKENS & set(attrs.split()):
        found.add("brand_class")
    return found


def _ancestor_features(anc: etree._Element, site: SiteSignals) -> frozenset[str]:
    found: set[str] = set()
    attrs = _class_id(anc)
    role = (anc.get("role") or "").lower()
    words = words_of(attrs)
    if anc.tag in ("header", "nav") or role in ("banner", "navigation") or (
        HEADER_WORD.search(attrs) and not CONTENT_HEADER.search(attrs)
    ):
        found.add("header")
    if anc.tag == "footer" or role == "contentinfo" or FOOTER_WORD.search(attrs):
        found.add("footer")
    found.update(group for group in CONTEXT_GROUPS if site.has(group, words))
    if "header" in found:
        found -= {"carousel", "hero"}  # the header's own name ('glide-header', 'hero-header') is a header
    if anc.tag == "button":
        found.add("in_button")
    return frozenset(found)


def own_features(el: etree._Element, site: SiteSignals, src: str | None) -> set[str]:
    """Features from the element's own attributes and the image URL it points at."""
    features: set[str] = set()
    attrs = _class_id(el)
    texts = [el.get(a) or "" for a in ("alt", "title", "aria-label")]
    if "logo" in (el.get("itemprop") or "").lower():
        features.add("itemprop_logo")
    if LOGO_WORD.search(attrs):
        features.add("logo_own")
    if BRAND_TOKENS & set(attrs.split()):
        features.add("brand_class")
    if any(LOGO_WORD.search(t.lower()) for t in texts):
        features.add("logo_text")
    if any(site.names_site(t) for t in texts):
        features.add("site_name")
    if any(norm(t) and norm(t) in site.name_norms for t in texts):
        features.add("alt_is_name")  # exactly the site's name, not a credit or a service ('REUTERS/J. Doe')
    own_words = words_of(attrs) + words_of(" ".join(texts))
    if site.has("distractor", own_words) or "powered by" in " ".join(texts).lower():
        features.add("distractor")
    if site.has("cookie", words_of(attrs)):
        features.add("cookie")
    if src:
        features |= src_features(src, site)
    if _is_pixel(el):
        features.add("tracker")
    return features


def src_features(src: str, site: SiteSignals) -> set[str]:
    """What the image URL's path says: 'logo', the site's name, sprites/avatars/social icons, trackers."""
    features: set[str] = set()
    if src.startswith("data:"):
        return features
    lowered = src.lower()
    parts = urlsplit(lowered)
    path = unquote(parts.path)  # '/%E3%83%AD%E3%82%B4.png' is '/ロゴ.png'
    # Image proxies name the file in the query: /_next/image?url=%2Flogo.png&w=640
    if LOGO_WORD.search(path) or LOGO_WORD.search(unquote(parts.query)):
        features.add("logo_src")
    filename = path.rsplit("/", 1)[-1]
    if len(site.label) >= 3 and norm(site.label) in norm(filename):
        features.add("domain_src")
    path_words = set(re.split(r"[^a-z0-9]+", path))
    bad = {w for w in path_words & BAD_SRC_WORDS if w not in site.label}
    if bad or ("logo_src" not in features and path_words & {"icon", "icons"}):
        features.add("bad_src")
    if path_words & LIGHT_WORDS:
        features.add("light_variant")
    if is_tracker(lowered):
        features.add("tracker")
    return features


def _is_pixel(el: etree._Element) -> bool:
    sizes = [_int_attr(el.get(a)) for a in ("width", "height")]
    return any(s is not None and s <= 2 for s in sizes)


def _int_attr(value: str | None) -> int | None:
    match = re.match(r"\s*(\d+)", value or "")
    return int(match.group(1)) if match else None


def is_hidden(el: etree._Element) -> bool:
    style = re.sub(r"\s+", "", (el.get("style") or "").lower())
    return el.get("hidden") is not None or "display:none" in style or "visibility:hidden" in style


def is_svg_icon(el: etree._Element, site: SiteSignals) -> bool:
    """Menu, search, cart and social glyphs: inline SVGs that are UI, not identity."""
    if any(anc.tag == "button" for anc in ancestors(el)[:4]):
        return True
    words = words_of(_class_id(el))
    return bool(ICON_WORDS & set(words)) or site.has("icon", words)
