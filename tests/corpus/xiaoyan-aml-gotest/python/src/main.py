from flask import Flask
app = Flask(__name__)


@app.route("/liveness")
def liveness():
    return "ok"


@app.route("/readiness")
def readiness():
    return "ok"
