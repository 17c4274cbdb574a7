package dev.harness.core;

import com.google.gson.annotations.SerializedName;
import java.io.PrintWriter;
import java.io.StringWriter;

/** A job that failed: the runner's error shape (contracts/results/error.json), error and traceback only. */
public final class ErrorResult {
    @SerializedName("schema_version") public int schemaVersion = Json.SCHEMA_VERSION;
    @SerializedName("error") public String error;
    @SerializedName("traceback") public String traceback;

    public ErrorResult() {}

    public ErrorResult(String error, String traceback) {
        this.error = error;
        this.traceback = traceback;
    }

    /** "ExceptionClass: message" as the runner writes "ValueError: ...", with the stack as its traceback. */
    public static ErrorResult of(Throwable t) {
        StringWriter sw = new StringWriter();
        t.printStackTrace(new PrintWriter(sw));
        String msg = t.getMessage() == null ? "" : t.getMessage();
        return new ErrorResult(t.getClass().getSimpleName() + ": " + msg, sw.toString());
    }

    public static ErrorResult fromJson(String json) {
        return Json.GSON.fromJson(json, ErrorResult.class);
    }

    public String toJson() {
        return Json.GSON.toJson(this);
    }
}
