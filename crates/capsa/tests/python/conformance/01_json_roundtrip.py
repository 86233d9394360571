# expect: ["{\"f\": 1.5, \"langs\": [\"py\", \"rs\"], \"n\": 3, \"name\": \"ada\", \"none\": null, \"ok\": true}",true,"\"é\"",[1000.0,-0.5]]
import json
data = {"name": "ada", "langs": ["py", "rs"], "n": 3, "f": 1.5, "ok": True, "none": None}
text = json.dumps(data, sort_keys=True)
[text, json.loads(text) == data, json.dumps("é", ensure_ascii=False), json.loads('[1e3, -0.5]')]
