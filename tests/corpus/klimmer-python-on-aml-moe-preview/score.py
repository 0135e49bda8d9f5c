import json
import os


def init():
    global model_dir
    model_dir = os.getenv("AZUREML_MODEL_DIR")


def run(raw_data):
    return json.loads(raw_data)
