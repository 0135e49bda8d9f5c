FROM mcr.microsoft.com/azureml/curated/mlflow-py312-inference:latest

USER dockeruser
ARG MLFLOW_MODEL_NAME=model_name
COPY $MLFLOW_MODEL_NAME/model/conda.yaml /tmp/conda.yaml
RUN conda env create -n userenv -f /tmp/conda.yaml
ENV MLFLOW_MODEL_FOLDER=model
EXPOSE 5001
CMD ["runsvdir", "/var/runit"]
