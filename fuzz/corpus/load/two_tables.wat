(module (table 1 funcref) (table 1 externref) (memory (export "memory") 1) (func (export "_start")))
