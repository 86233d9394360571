# expect: ["missing",404,"KeyError","finally","ValueError('x')"]
class AppError(Exception):
    def __init__(self, msg, code):
        super().__init__(msg); self.code = code
def load():
    try:
        {}["key"]
    except KeyError as e:
        raise AppError("missing", 404) from e
out = []
try:
    load()
except AppError as e:
    out += [str(e), e.code, type(e.__cause__).__name__]
finally:
    out.append("finally")
try:
    raise ValueError("x")
except (TypeError, ValueError) as e:
    out.append(repr(e))
else:
    out.append("no")
out
