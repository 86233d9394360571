# expect: [["10.0.0.1","10.0.0.2"],true,"::1","q1.tar.gz",[".tar",".gz"],"/data/reports/q2.csv","q1.tar"]
import ipaddress
from pathlib import PurePosixPath
net = ipaddress.ip_network("10.0.0.0/30")
p = PurePosixPath("/data/reports/q1.tar.gz")
[[str(h) for h in net.hosts()], ipaddress.ip_address("192.168.1.1").is_private, str(ipaddress.ip_address("::1")), p.name, p.suffixes, str(p.parent / "q2.csv"), p.stem]
