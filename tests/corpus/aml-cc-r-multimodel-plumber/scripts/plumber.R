model_dir <- Sys.getenv("AZUREML_MODEL_DIR")
models <- lapply(c(a = "a", b = "b", c = "c"), function(m) readRDS(paste0(model_dir, "/models/", m, ".rds")))

#* Liveness check
#* @get /live
function() {
  "alive"
}

#* Readiness check
#* @get /ready
function() {
  "ready"
}

#* @param model
#* @post /score
function(model, x1, x2) {
  predict(models[[model]], data.frame(x1 = x1, x2 = x2), type = "response")
}
