# expect: [[["1","a"],["2","b"]],"<x a=\"1\" />","b"]
import xml.etree.ElementTree as ET
root = ET.fromstring("<r><item id='1'>a</item><item id='2'>b</item></r>")
[[(i.get("id"), i.text) for i in root.iter("item")], ET.tostring(ET.Element("x", a="1")).decode(), root.find("item[@id='2']").text]
