# expect: ["abcde","0123456789","ada likes py","Hello Wide World","     r|l   |  c  "]
import string
t = string.Template("$who likes $what")
[string.ascii_lowercase[:5], string.digits, t.substitute(who="ada", what="py"), string.capwords("hello wide world"), "{:>6}|{:<4}|{:^5}".format("r", "l", "c")]
