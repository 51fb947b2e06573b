// One OpenAI chat request through the JDK's own HttpClient, as Java programs (Spring AI, LangChain4j) send it.
// The client's default version is HTTP/2, so over http:// it offers an h2c upgrade on the request.
// Usage: java Chat.java BASE_URL TEXT  (prints the status line, then the body)
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class Chat {
    public static void main(String[] args) throws Exception {
        String body = "{\"model\": \"gemini-2.5-flash\", \"messages\": [{\"role\": \"user\", \"content\": \""
                + args[1] + "\"}]}";
        HttpClient client = HttpClient.newHttpClient();
        HttpRequest request = HttpRequest.newBuilder(URI.create(args[0] + "/chat/completions"))
                .header("Content-Type", "application/json")
                .header("Authorization", "Bearer unused")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        for (int i = 0; i < 2; i++) {  // the second goes over the connection the first one opened
            HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
            System.out.println(response.version() + " " + response.statusCode());
            System.out.println(response.body());
        }
    }
}
