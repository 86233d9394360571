# expect: ["INFO:app:shown 1","WARNING:app:warn"]
import logging, io
stream = io.StringIO()
log = logging.getLogger("app")
h = logging.StreamHandler(stream)
h.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
log.addHandler(h); log.setLevel(logging.INFO)
log.debug("hidden"); log.info("shown %d", 1); log.warning("warn")
stream.getvalue().splitlines()
