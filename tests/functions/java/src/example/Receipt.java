package example;

import java.util.List;

/** A result POJO: getters become properties, null ones are left out. */
public class Receipt {
    private final String orderId;
    private final double total;
    private final boolean express;
    private final List<String> skus;
    private final Order.Priority priority;

    public Receipt(String orderId, double total, boolean express, List<String> skus, Order.Priority priority) {
        this.orderId = orderId;
        this.total = total;
        this.express = express;
        this.skus = skus;
        this.priority = priority;
    }

    public Order.Priority getPriority() {
        return priority;
    }

    /** A standard bean name: "URL", not "url". */
    public String getURL() {
        return "https://example.com/orders/" + orderId;
    }

    public String getOrderId() {
        return orderId;
    }

    public double getTotal() {
        return total;
    }

    public boolean isExpress() {
        return express;
    }

    public List<String> getSkus() {
        return skus;
    }

    public String getNote() {
        return null;
    }
}
