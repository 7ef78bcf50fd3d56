package example;

import com.amazonaws.services.lambda.runtime.Context;
import java.util.ArrayList;
import java.util.List;

/** A static handler method named in the handler string: POJO in, POJO out. */
public class Orders {
    public static Receipt place(Order order, Context context) {
        double total = 0;
        List<String> skus = new ArrayList<>();
        if (order.getItems() != null) {
            for (Order.Item item : order.getItems()) {
                total += item.getPrice() * order.getQuantity();
                skus.add(item.getSku());
            }
        }
        return new Receipt(order.getOrderId(), total, order.isExpress(), skus, order.getPriority());
    }

    public static String shout(String text) {
        return text.toUpperCase() + "!";
    }
}
