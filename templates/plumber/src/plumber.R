# plumber.R -- your scoring script. Azure ML mounts it into the container and
# docker-context/start_plumber.R serves it with plumber.
#
#   GET  /live   liveness:  is the R process up? 200 as soon as plumber listens.
#                If it fails, Azure restarts the container.
#   GET  /ready  readiness: can we score? 503 until the model has loaded. Azure only
#                sends traffic to ready containers, and a container whose model is
#                broken stays up so you can read the error here and in the logs.
#   POST /score  {"data": [{"wt": 2.62, "hp": 110}, ...]}  ->  {"predictions": [...]}
#
# Using your own model:
#   * a model object that works with predict(model, newdata = df): saveRDS() it into
#     your model folder, e.g. saveRDS(fit, "model/model.rds"); nothing here needs to change;
#   * a crate (a function taking a data frame and returning predictions) saved as
#     crate.bin: also works as is;
#   * anything else: edit load_model() and/or the /score handler below.
# Packages your model needs at scoring time must be installed in the image
# (docker-context/Dockerfile).

# Azure ML mounts the registered model here, keeping the folder name:
# $AZUREML_MODEL_DIR/<folder>/model.rds. Set MODEL_FILE (relative to
# AZUREML_MODEL_DIR, or absolute) to pick a file instead of searching.
model_dir <- Sys.getenv("AZUREML_MODEL_DIR")

find_model_file <- function(model_dir, model_file = Sys.getenv("MODEL_FILE")) {
  if (nzchar(model_file)) {
    absolute <- grepl("^(/|~|[A-Za-z]:[/\\\\])", model_file)
    if (!absolute && !nzchar(model_dir)) stop("MODEL_FILE is relative but AZUREML_MODEL_DIR is not set")
    path <- if (absolute) path.expand(model_file) else file.path(model_dir, model_file)
    if (!file.exists(path)) stop("MODEL_FILE not found: ", path)
    return(path)
  }
  if (!nzchar(model_dir)) stop("AZUREML_MODEL_DIR is not set")
  if (!dir.exists(model_dir)) stop("model directory ", model_dir, " does not exist")
  files <- list.files(model_dir, recursive = TRUE, full.names = TRUE)
  candidates <- files[basename(files) == "crate.bin"]
  if (!length(candidates)) {
    candidates <- files[grepl("\\.rds$", files, ignore.case = TRUE)]
    if (length(candidates) > 1 && sum(basename(candidates) == "model.rds") == 1) {
      candidates <- candidates[basename(candidates) == "model.rds"]
    }
  }
  if (!length(candidates)) stop("no crate.bin or .rds file found under ", model_dir)
  if (length(candidates) > 1) {
    stop("several model files found under ", model_dir, " (",
         paste(candidates, collapse = ", "), "); set MODEL_FILE to choose one")
  }
  candidates
}

# Returns the scoring function (data frame in, predictions out) and the input
# columns the model needs, as far as R can tell: models with a formula (lm, glm, ...)
# know their variables; for a crate we look at an object named `model` inside it.
# When unknown, no columns are checked and a missing one shows up as a prediction error.
load_model <- function(path) {
  # The packages the model needs (docker-context/Dockerfile sets MODEL_R_PACKAGES): their
  # namespaces must be loaded for predict() to find their methods.
  for (pkg in strsplit(Sys.getenv("MODEL_R_PACKAGES"), "[[:space:],]+")[[1]]) {
    if (nzchar(pkg)) loadNamespace(pkg)
  }
  obj <- readRDS(path)
  if (is.raw(obj)) obj <- unserialize(obj) # crate.bin: saveRDS(serialize(crate, NULL))
  if (is.function(obj)) {                  # a crate already is a scoring function
    return(list(score = obj, columns = formula_columns(environment(obj)$model)))
  }
  # saveRDS(list(model = fit, ...)): a plain list (no class) bundling the model with
  # other things; the `model` element is served.
  if (is.list(obj) && is.null(attr(obj, "class")) && !is.null(obj[["model"]])) {
    obj <- obj[["model"]]
  }
  list(score = function(df) prediction_values(predict_on(obj, df)),
       columns = formula_columns(obj))
}

# predict(model, newdata = df), or `data = df` for methods that name it so (ranger's).
predict_on <- function(obj, df) {
  for (cls in class(obj)) {
    method <- utils::getS3method("predict", cls, optional = TRUE)
    if (is.null(method)) next
    args <- names(formals(method))
    if (!"newdata" %in% args && "data" %in% args) return(stats::predict(obj, data = df))
    break
  }
  stats::predict(obj, newdata = df)
}

# Some predict() methods answer with a list holding the predictions (ranger's
# ranger.prediction has $predictions); serve those.
prediction_values <- function(p) {
  if (is.list(p) && !is.data.frame(p) && !is.null(p[["predictions"]])) p[["predictions"]] else p
}

formula_columns <- function(model) {
  tryCatch(setdiff(all.vars(stats::delete.response(stats::terms(model))), "."),
           error = function(e) character())
}

# Load once, when plumber sources this file. Errors are kept, not raised: a missing
# or broken model must not kill the server; /ready reports it instead.
scorer <- NULL
model_columns <- character()
model_path <- NULL
load_error <- NULL
tryCatch({
  model_path <- find_model_file(model_dir)
  loaded <- load_model(model_path)
  scorer <- loaded$score
  model_columns <- loaded$columns
  message("plumber.R: loaded model from ", model_path)
}, error = function(e) {
  where <- if (!is.null(model_path)) paste0("cannot load ", model_path, ": ")
  load_error <<- paste0(where, conditionMessage(e))
  message("plumber.R: model NOT loaded: ", load_error)
})

# Responses use unboxedJSON so that "alive" is a string, not ["alive"]. Vectors that
# must stay JSON arrays even with one element are wrapped in I().

#* Liveness probe
#* @get /live
#* @serializer unboxedJSON
function() {
  list(status = "alive")
}

#* Readiness probe: 200 once the model is loaded, 503 otherwise
#* @get /ready
#* @serializer unboxedJSON
function(res) {
  if (is.null(scorer)) {
    res$status <- 503L
    return(list(status = "not ready", error = load_error))
  }
  list(status = "ready")
}

#* Score a list of records: {"data": [{"wt": 2.62, "hp": 110}]}
#* @post /score
#* @parser text
#* @serializer unboxedJSON list(digits = NA, na = "null")
function(req, res) {
  fail <- function(status, ...) {
    res$status <- status
    list(error = paste0(...))
  }
  if (is.null(scorer)) return(fail(503L, "model not loaded: ", load_error))

  # We parse the body ourselves (@parser text): plumber's JSON parser answers
  # malformed JSON with a 500 before this function runs. (Hence the harmless log line
  # "No suitable parser found to handle request body type application/json".)
  # parse_json(), not fromJSON(): fromJSON() reads a file or URL if the body is a path.
  body <- tryCatch(jsonlite::parse_json(req$postBody, simplifyVector = TRUE),
                   error = function(e) e)
  if (inherits(body, "error")) {
    why <- trimws(gsub("\\s+", " ", conditionMessage(body)))
    return(fail(400L, "request body is not valid JSON: ", why))
  }
  if (!is.list(body) || !"data" %in% names(body)) {
    return(fail(400L, 'request body must be a JSON object with a "data" key, ',
                'e.g. {"data": [{"wt": 2.62, "hp": 110}]}'))
  }
  df <- body$data
  if (!is.data.frame(df) || nrow(df) == 0) {
    return(fail(400L, '"data" must be a non-empty list of records, ',
                'e.g. [{"wt": 2.62, "hp": 110}]'))
  }
  missing <- setdiff(model_columns, names(df))
  if (length(missing)) {
    return(fail(400L, "missing column(s) in data: ", paste(missing, collapse = ", ")))
  }

  predictions <- tryCatch(scorer(df), error = function(e) e)
  if (inherits(predictions, "error")) {
    message("plumber.R: prediction failed: ", conditionMessage(predictions))
    return(fail(500L, "prediction failed: ", conditionMessage(predictions)))
  }
  # Data frames become lists of records and matrices arrays of rows; anything else
  # is returned as a flat array, one value per input row.
  if (!is.data.frame(predictions) && !is.matrix(predictions)) {
    predictions <- I(unname(as.vector(predictions)))
  }
  list(predictions = predictions)
}
