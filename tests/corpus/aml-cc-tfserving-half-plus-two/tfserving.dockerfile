FROM tensorflow/serving
