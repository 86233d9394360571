# expect: [{"price":2.5,"name":"pen","tags":["office"]},true,"Item(price=1.0, name='pen', tags=('office',))","pen"]
from dataclasses import dataclass, field, asdict, replace
@dataclass(order=True, frozen=True)
class Item:
    price: float
    name: str = field(compare=False)
    tags: tuple = ()
a = Item(2.5, "pen", ("office",))
b = replace(a, price=1.0)
[asdict(a), b < a, repr(b), sorted([a, b])[0].name]
