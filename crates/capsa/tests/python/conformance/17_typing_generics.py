# expect: [3,1,["mode","return","x"],"<class 'str'>"]
from typing import TypeVar, Generic, Optional, Protocol, get_type_hints, TypedDict, Literal
T = TypeVar("T")
class Box(Generic[T]):
    def __init__(self, v: T) -> None: self.v = v
    def get(self) -> T: return self.v
class Movie(TypedDict):
    title: str
    year: int
def f(x: Optional[int], mode: Literal["a", "b"]) -> str: return str(x)
hints = get_type_hints(f)
[Box[int](3).get(), Movie(title="x", year=1)["year"], sorted(hints), str(hints["return"])]
