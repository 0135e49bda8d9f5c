import json
import logging


def init():
    global model
    model = None  # the post loads BAAI/bge-m3 with FlagEmbedding here


def run(raw_data):
    data = json.loads(raw_data)["input"]
    return data
