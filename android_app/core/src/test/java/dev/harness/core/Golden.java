package dev.harness.core;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** The repository's golden contract files (contracts/), shared with pytest and the Swift tests. */
final class Golden {
    private Golden() {}

    /** -Dharness.contracts=DIR, else ../../contracts from android_app/core (Gradle's working directory). */
    static Path dir() {
        String given = System.getProperty("harness.contracts");
        Path p = given != null ? Paths.get(given) : Paths.get("..", "..", "contracts");
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException("no contracts directory at " + p.toAbsolutePath()
                    + " (set -Dharness.contracts=...)");
        }
        return p;
    }

    /** read() for tests that cannot throw a checked exception. */
    static String read0(String relative) {
        try {
            return read(relative);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static String read(String relative) throws IOException {
        return new String(Files.readAllBytes(dir().resolve(relative)), StandardCharsets.UTF_8);
    }
}
