import tritonclient.http as tritonhttpclient


def main():
    client = tritonhttpclient.InferenceServerClient('localhost:8000')
    print(client.is_server_ready())
