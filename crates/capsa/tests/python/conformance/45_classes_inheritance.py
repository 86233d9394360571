# expect: ["rex makes a sound (woof)","REX",1,"Animal",true]
class Animal:
    count = 0
    def __init__(self, name):
        self.name = name
        Animal.count += 1
    def speak(self): return f"{self.name} makes a sound"
    @classmethod
    def make(cls, name): return cls(name)
    @property
    def upper(self): return self.name.upper()
class Dog(Animal):
    def speak(self): return super().speak() + " (woof)"
d = Dog.make("rex")
[d.speak(), d.upper, Animal.count, type(d).__mro__[1].__name__, isinstance(d, Animal)]
