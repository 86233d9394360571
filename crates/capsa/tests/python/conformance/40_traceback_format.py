# expect: [["ValueError: bad\n"],["<module>","boom"]]
import traceback
def boom():
    raise ValueError("bad")
try:
    boom()
except ValueError as e:
    lines = traceback.format_exception_only(type(e), e)
    frames = [f.name for f in traceback.extract_tb(e.__traceback__)]
[lines, frames]
