# expect: [4,36,"cfbff0d1-9375-5685-968c-48ce8b15ae17","12345678-1234-5678-1234-567812345678"]
import uuid
u = uuid.uuid4()
[u.version, len(str(u)), str(uuid.uuid5(uuid.NAMESPACE_DNS, "example.com")), str(uuid.UUID("12345678123456781234567812345678"))]
