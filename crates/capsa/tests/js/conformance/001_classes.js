// expect: ["Rex makes a sound. Rex barks.",true,true,"Dog",2,"dog/animal",true,"function",2,false]
// covers: class inheritance, super method calls, super getters, static methods and inherited statics
class Animal {
  constructor(name) { this.name = name; Animal.count++; }
  speak() { return `${this.name} makes a sound.`; }
  static create(name) { return new this(name); }
  get kind() { return 'animal'; }
}
Animal.count = 0;
class Dog extends Animal {
  speak() { return `${super.speak()} ${this.name} barks.`; }
  get kind() { return 'dog/' + super.kind; }
}
const d = Dog.create('Rex');
const a = new Animal('Generic');
[d.speak(), d instanceof Dog, d instanceof Animal, d.constructor.name, Animal.count, d.kind, Object.getPrototypeOf(Dog) === Animal, typeof Dog, Dog.count, Object.hasOwn(Dog, 'count')]
