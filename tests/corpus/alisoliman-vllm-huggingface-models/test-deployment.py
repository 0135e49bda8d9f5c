import requests

print(requests.get('https://vllm-hf.example/health'))
