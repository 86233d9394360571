"""The standard library capsa's Python promises (docs/python.md).

componentize-py snapshots the interpreter after running the app module, and only modules imported by
then exist at run time. This module imports them all, plus the helpers some import lazily.
"""

import importlib
import pkgutil

PROMISED = """
    abc argparse array ast asyncio base64 binascii bisect calendar cmath codecs collections
    collections.abc colorsys contextlib contextvars copy csv dataclasses datetime decimal difflib
    enum fnmatch fractions functools gettext graphlib gzip hashlib heapq hmac html html.entities
    html.parser inspect io ipaddress itertools json keyword locale logging math numbers operator
    os pathlib pprint queue random re reprlib secrets shlex sqlite3 statistics string struct
    sys textwrap time timeit tokenize tomllib traceback types typing unicodedata urllib.parse uuid
    warnings weakref xml.etree.ElementTree zlib zoneinfo zipfile tarfile email email.message email.utils
    mimetypes quopri dis copyreg sched string.templatelib pickle unittest
""".split()

# Imported lazily by the modules above (inside functions, or from C like `_pylong`), so the snapshot
# needs them too. Found by running modulefinder over PROMISED at build time and comparing (it cannot
# stay in the build: the scan's garbage stays in the snapshot, 24 MB of linear memory became 40 MB):
# `email.message_from_string` and `Message.as_string` (the parser, generator and policies),
# `ast.unparse`, `Path.as_uri`/`from_uri` (urllib.request), big-integer `//` and `str()` (`_pylong`),
# ElementTree's parser (expat), `zoneinfo`'s pure-Python fallback.
HELPERS = """
    _strptime _pydatetime _pydecimal encodings.idna stringprep _colorize
    email.parser email.feedparser email.policy email.generator email.headerregistry
    email.contentmanager email._header_value_parser email.iterators
    _ast_unparse urllib.request urllib.error urllib.response _pylong xml.parsers.expat
    zoneinfo._zoneinfo tomllib._types _compat_pickle
""".split()

for name in PROMISED + HELPERS:
    # A promised module that does not import fails the build: better than a surprise at run time.
    importlib.import_module(name)

# Every codec, so `str.encode("latin-1")` and friends work.
import encodings  # noqa: E402

for info in pkgutil.iter_modules(encodings.__path__):
    try:
        importlib.import_module(f"encodings.{info.name}")
    except ImportError:
        pass  # Windows-only codecs (mbcs, oem) and bz2_codec (no _bz2 in this build)


def _bundle_tzdata():
    """The IANA time zone database (the `tzdata` package, pinned by the build) in memory, where
    `zoneinfo` finds it: the sandbox has no /usr/share/zoneinfo."""
    import importlib.resources
    import io
    import sys
    import zoneinfo
    import zoneinfo._common

    package = importlib.resources.files("tzdata")
    keys = (package / "zones").read_text().split()
    data = {key: (package / "zoneinfo").joinpath(*key.split("/")).read_bytes() for key in keys}
    version = getattr(sys.modules["tzdata"], "IANA_VERSION", "")

    def load_tzdata(key):
        try:
            return io.BytesIO(data[key])
        except KeyError:
            raise zoneinfo.ZoneInfoNotFoundError(f"No time zone found with key {key}") from None

    zoneinfo._common.load_tzdata = load_tzdata
    zoneinfo.available_timezones = lambda: set(data)
    zoneinfo.TZDATA_VERSION = version
    # The package's files are not in the sandbox: nothing may reach for them at run time.
    del sys.modules["tzdata"]


_bundle_tzdata()
