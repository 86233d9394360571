# expect: ["Y2Fwc2Eh","__4=","MFRA====","hi","0010",907060870]
import base64, binascii
[base64.b64encode(b"capsa!").decode(), base64.urlsafe_b64encode(b"\xff\xfe").decode(), base64.b32encode(b"ab").decode(), base64.b64decode("aGk=").decode(), binascii.hexlify(b"\x00\x10").decode(), binascii.crc32(b"hello")]
