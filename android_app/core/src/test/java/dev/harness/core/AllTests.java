package dev.harness.core;

import org.junit.runner.JUnitCore;
import org.junit.runner.Result;
import org.junit.runner.notification.Failure;

/**
 * Runs the named test classes with JUnitCore and prints one summary line the pytest wrapper reads:
 * tests, failures and skipped assumptions (a skip is visible, never silent). Exit 1 on any failure.
 */
public final class AllTests {
    private AllTests() {}

    public static void main(String[] args) throws ClassNotFoundException {
        Class<?>[] classes = new Class<?>[args.length];
        for (int i = 0; i < args.length; i++) {
            classes[i] = Class.forName(args[i]);
        }
        Result r = JUnitCore.runClasses(classes);
        for (Failure f : r.getFailures()) {
            System.out.println("FAIL " + f.getTestHeader() + ": " + f.getMessage());
            System.out.println(f.getTrace());
        }
        System.out.println("JUNIT tests=" + r.getRunCount() + " failures=" + r.getFailureCount()
                + " assumptions=" + r.getAssumptionFailureCount() + " ignored=" + r.getIgnoreCount());
        System.exit(r.wasSuccessful() ? 0 : 1);
    }
}
