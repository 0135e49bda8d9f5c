# make_model.R -- re-creates the example model in model/.
#
# Run from the project root:
#   Rscript model-src/make_model.R           writes model/model.rds  (a plain R model object)
#   Rscript model-src/make_model.R --crate   writes model/crate.bin  (a carrier-style crate)
#
# Replace the lm() call with your own training code. src/plumber.R accepts either
#   * an .rds file holding a model that works with predict(model, newdata = df), or
#   * crate.bin: a function(df) returning predictions, saved as
#     saveRDS(serialize(fn, NULL), "crate.bin") (the format Azure ML's R examples use).
# If model/ holds both, src/plumber.R uses crate.bin.

args <- commandArgs(trailingOnly = TRUE)
unknown <- setdiff(args, "--crate")
if (length(unknown)) stop("unknown argument(s): ", paste(unknown, collapse = " "), " (only --crate is allowed)")
if (!file.exists(file.path("model-src", "make_model.R"))) {
  stop("run this from the project root: Rscript model-src/make_model.R")
}
dir.create("model", showWarnings = FALSE)

# Training: miles per gallon from weight (1000 lbs) and horsepower.
model <- lm(mpg ~ wt + hp, data = mtcars)

if ("--crate" %in% args) {
  # A crate is a self-contained function: data frame in, predictions out, with
  # everything it needs (here: the model) in its own environment. With the carrier
  # package you would write
  #   carrier::crate(function(x) stats::predict(model, newdata = x), model = model)
  # This hand-made equivalent needs no carrier package at all (not when saving, not
  # when scoring). Call functions with pkg:: inside the crate, because its parent
  # environment is base R only.
  crate_env <- new.env(parent = baseenv())
  crate_env$model <- model
  crate_fn <- function(x) stats::predict(model, newdata = x)
  environment(crate_fn) <- crate_env
  class(crate_fn) <- c("crate", "function")

  path <- file.path("model", "crate.bin")
  saveRDS(serialize(crate_fn, NULL), path)
} else {
  path <- file.path("model", "model.rds")
  saveRDS(model, path)
}
cat("wrote ", path, "\n", sep = "")
