FROM mcr.microsoft.com/azureml/minimal-py312-inference:latest

USER dockeruser
ENV CONDA_ENV_DIR=/opt/miniconda/envs
COPY ./environment/conda.yaml /tmp/conda.yaml
RUN conda env create -n userenv -f /tmp/conda.yaml
ENV AZUREML_CONDA_ENVIRONMENT_PATH="$CONDA_ENV_DIR/userenv"
ENV PATH="$AZUREML_CONDA_ENVIRONMENT_PATH/bin:$PATH"
