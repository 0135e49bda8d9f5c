model_dir <- Sys.getenv("AZUREML_MODEL_DIR")
load_model <- readRDS(paste0(model_dir, "/models/crate.bin"))
scoring_function <- unserialize(load_model)

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

#* @param forecast_horizon
#* @post /score
function(forecast_horizon) {
  scoring_function(as.numeric(forecast_horizon))
}
