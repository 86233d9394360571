enum Color { Red, Green = "g", Blue = 4 }
namespace NS { export const x: number = 1; }
class P<T extends object> { constructor(private readonly a: T, public b?: string) {} m(): T { return this.a } }
function over(a: string): string;
function over(a: number): number;
function over(a: any): any { return a }
const v = { a: 1 } satisfies Record<string, number>;
type U = keyof typeof v | `x${string}`;
interface I { f(x: number): void }
declare module "m" { export const y: 1 }
abstract class A { abstract f(): void }
let n = <number>(<unknown>"1");
let t = (x as any)!;
export default async function handler(req: { query: Record<string, string> }): Promise<object> { return { hello: req.query.name } }
