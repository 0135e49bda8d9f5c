#!/bin/bash
az ml online-endpoint create -f scripts/auxiliary_files/endpoint_aml.yml
az ml online-deployment create -f scripts/auxiliary_files/actual_deployment_aml.yml
