"""The suite's machinery: settings and target, the HTTP client, the storefront
scenarios' helpers, fuzzing glue, the pytest plugin and the recording of outcomes."""
