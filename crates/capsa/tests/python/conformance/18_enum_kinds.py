# expect: ["GREEN",[1,2],"Perm.R|W",true,true,4]
from enum import Enum, IntEnum, Flag, auto
class Color(Enum):
    RED = 1
    GREEN = 2
class Perm(Flag):
    R = auto()
    W = auto()
    X = auto()
class Level(IntEnum):
    LOW = 1
    HIGH = 3
[Color(2).name, [c.value for c in Color], str(Perm.R | Perm.W), Perm.R in (Perm.R | Perm.X), Level.HIGH > Level.LOW, Level.HIGH + 1]
