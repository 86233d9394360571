# expect: ["name,quote\r\nada,\"said \"\"hi\"\", twice\"\r\n",[{"name":"ada","quote":"said \"hi\", twice"}]]
import csv, io
buf = io.StringIO()
w = csv.writer(buf)
w.writerow(["name", "quote"])
w.writerow(["ada", 'said "hi", twice'])
rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
[buf.getvalue(), rows]
