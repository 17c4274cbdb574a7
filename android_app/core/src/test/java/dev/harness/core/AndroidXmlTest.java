package dev.harness.core;

import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.Test;

/**
 * Every XML file of the app (manifest, resources) is well-formed to the JDK's parser, as the Android build's
 * manifest merger needs: a double hyphen inside a comment once broke it. The same check runs in pytest with
 * Python's parser, and Debian's aapt links the manifest and resources against the framework's.
 */
public class AndroidXmlTest {
    @Test
    public void everyXmlUnderAndroidAppParses() throws Exception {
        Path app = Golden.dir().toAbsolutePath().getParent().resolve("android_app");
        List<Path> xml;
        try (Stream<Path> walk = Files.walk(app)) {
            xml = walk.filter(p -> p.toString().endsWith(".xml") && !p.toString().contains(File.separator + "build"
                    + File.separator)).sorted().collect(Collectors.toList());
        }
        assertTrue("found " + xml, xml.size() >= 4 && xml.stream().anyMatch(p -> p.endsWith("AndroidManifest.xml")));
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        for (Path p : xml) {
            try {
                f.newDocumentBuilder().parse(p.toFile());
            } catch (org.xml.sax.SAXException | IOException e) {
                throw new AssertionError(app.relativize(p) + " is not well-formed: " + e.getMessage());
            }
        }
    }
}
