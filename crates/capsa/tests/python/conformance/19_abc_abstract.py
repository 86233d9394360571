# expect: [9,"TypeError",true]
from abc import ABC, abstractmethod
class Shape(ABC):
    @abstractmethod
    def area(self): ...
class Sq(Shape):
    def __init__(self, s): self.s = s
    def area(self): return self.s ** 2
try:
    Shape()
    err = None
except TypeError as e:
    err = type(e).__name__
[Sq(3).area(), err, isinstance(Sq(1), Shape)]
