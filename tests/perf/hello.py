"""The ceiling for `make bench`: a bare Flask app answering one small JSON object."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return {"status": "ok"}
