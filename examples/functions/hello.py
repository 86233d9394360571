# A handler: called with the request context (docs/contract.md), returns the response.
def handler(request):
    name = request.query.get("name", "world")
    return {
        "status": 200,
        "headers": {"content-type": "application/json"},
        "body": {"hello": name, "method": request.method},
    }
