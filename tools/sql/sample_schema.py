"""DDL and plain-English description catalogue of the Kestrel Systems Ltd sample database.

SQLite has no ``COMMENT ON``, so every table and column is described here and written into a
``_schema_docs`` table inside the database (the same convention :mod:`tools.sql.schema` reads from any
SQLite file). The descriptions feed table retrieval and the schema shown to text-to-SQL models, so they say
what a business user would ask about ("revenue", "overdue", "account manager"), not only what a column holds.
"""

from __future__ import annotations

DOCS_TABLE = "_schema_docs"

DDL = """
CREATE TABLE regions (
    region_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    country TEXT NOT NULL,
    territory TEXT NOT NULL CHECK (territory IN ('UK', 'Ireland', 'Europe'))
);

CREATE TABLE departments (
    department_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    cost_centre TEXT NOT NULL UNIQUE
);

CREATE TABLE employees (
    employee_id INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    job_title TEXT NOT NULL,
    department_id INTEGER NOT NULL REFERENCES departments (department_id),
    manager_id INTEGER REFERENCES employees (employee_id),
    region_id INTEGER REFERENCES regions (region_id),
    hire_date TEXT NOT NULL,
    salary_gbp INTEGER NOT NULL CHECK (salary_gbp > 0),
    is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1))
);
CREATE INDEX idx_employees_manager ON employees (manager_id);
CREATE INDEX idx_employees_department ON employees (department_id);

CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    company_name TEXT NOT NULL UNIQUE,
    industry TEXT NOT NULL,
    region_id INTEGER NOT NULL REFERENCES regions (region_id),
    city TEXT NOT NULL,
    account_manager_id INTEGER NOT NULL REFERENCES employees (employee_id),
    company_size TEXT NOT NULL CHECK (company_size IN ('1-49', '50-249', '250-999', '1000+')),
    credit_limit_gbp INTEGER NOT NULL,
    created_date TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'on_hold', 'churned'))
);
CREATE INDEX idx_customers_region ON customers (region_id);
CREATE INDEX idx_customers_account_manager ON customers (account_manager_id);

CREATE TABLE products (
    product_id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    product_line TEXT NOT NULL CHECK (product_line IN ('Kestrel Beacon', 'Kestrel Hub', 'Kestrel Cloud')),
    category TEXT NOT NULL CHECK (category IN ('sensor', 'gateway', 'subscription')),
    unit_price_gbp REAL NOT NULL CHECK (unit_price_gbp > 0),
    unit_cost_gbp REAL NOT NULL CHECK (unit_cost_gbp >= 0),
    billing_period TEXT NOT NULL CHECK (billing_period IN ('one_off', 'annual')),
    launch_date TEXT NOT NULL,
    discontinued_date TEXT
);

CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    order_number TEXT NOT NULL UNIQUE,
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    sales_rep_id INTEGER NOT NULL REFERENCES employees (employee_id),
    order_date TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'shipped', 'delivered', 'cancelled')),
    channel TEXT NOT NULL CHECK (channel IN ('direct', 'partner', 'web')),
    shipping_gbp REAL NOT NULL DEFAULT 0
);
CREATE INDEX idx_orders_customer ON orders (customer_id);
CREATE INDEX idx_orders_date ON orders (order_date);
CREATE INDEX idx_orders_sales_rep ON orders (sales_rep_id);

CREATE TABLE order_items (
    order_item_id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_gbp REAL NOT NULL,
    discount_pct REAL NOT NULL DEFAULT 0 CHECK (discount_pct >= 0 AND discount_pct < 100)
);
CREATE INDEX idx_order_items_order ON order_items (order_id);
CREATE INDEX idx_order_items_product ON order_items (product_id);

CREATE TABLE invoices (
    invoice_id INTEGER PRIMARY KEY,
    invoice_number TEXT NOT NULL UNIQUE,
    order_id INTEGER NOT NULL UNIQUE REFERENCES orders (order_id),
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    invoice_date TEXT NOT NULL,
    due_date TEXT NOT NULL,
    net_amount_gbp REAL NOT NULL,
    vat_gbp REAL NOT NULL,
    total_gbp REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('paid', 'partially_paid', 'open', 'overdue'))
);
CREATE INDEX idx_invoices_customer ON invoices (customer_id);

CREATE TABLE payments (
    payment_id INTEGER PRIMARY KEY,
    invoice_id INTEGER NOT NULL REFERENCES invoices (invoice_id),
    payment_date TEXT NOT NULL,
    amount_gbp REAL NOT NULL CHECK (amount_gbp > 0),
    method TEXT NOT NULL CHECK (method IN ('bank_transfer', 'card', 'direct_debit')),
    reference TEXT NOT NULL UNIQUE
);
CREATE INDEX idx_payments_invoice ON payments (invoice_id);

CREATE TABLE support_tickets (
    ticket_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    product_id INTEGER REFERENCES products (product_id),
    assigned_to_id INTEGER NOT NULL REFERENCES employees (employee_id),
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    priority TEXT NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    status TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
    category TEXT NOT NULL,
    subject TEXT NOT NULL,
    satisfaction_score INTEGER CHECK (satisfaction_score BETWEEN 1 AND 5)
);
CREATE INDEX idx_support_tickets_customer ON support_tickets (customer_id);
CREATE INDEX idx_support_tickets_product ON support_tickets (product_id);

CREATE TABLE _schema_docs (
    table_name TEXT NOT NULL,
    column_name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL,
    PRIMARY KEY (table_name, column_name)
);
"""

# Insert order of the data tables: parents before children, so foreign keys hold row by row.
TABLE_ORDER = (
    "regions",
    "departments",
    "employees",
    "customers",
    "products",
    "orders",
    "order_items",
    "invoices",
    "payments",
    "support_tickets",
)

REVENUE_DEFINITION = (
    "Revenue is the sum over order_items of quantity * unit_price_gbp * (1 - discount_pct / 100) for orders "
    "whose status is not 'cancelled'; it excludes shipping and VAT."
)

# table -> (table description, {column: description})
SCHEMA_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "regions": (
        "Sales regions of Kestrel Systems Ltd: the geographic territories customers and sales staff belong to "
        "(UK regions, Ireland and mainland Europe).",
        {
            "region_id": "Unique identifier of the region.",
            "name": "Region name, e.g. 'London & South East', 'Scotland', 'DACH'.",
            "country": "ISO 3166 two-letter country code of the region (GB, IE, NL, DE, SE).",
            "territory": "Sales territory grouping the region: 'UK', 'Ireland' or 'Europe'.",
        },
    ),
    "departments": (
        "Company departments (Executive, Sales, Customer Support, Engineering, Finance, Marketing, Operations) "
        "that employees work in, with their finance cost centre.",
        {
            "department_id": "Unique identifier of the department.",
            "name": "Department name.",
            "cost_centre": "Finance cost centre code charged for the department, e.g. 'CC-200'.",
        },
    ),
    "employees": (
        "Staff of Kestrel Systems Ltd, including sales representatives, account managers and support agents; "
        "manager_id gives the reporting line (org chart, who reports to whom).",
        {
            "employee_id": "Unique identifier of the employee.",
            "first_name": "Employee's first (given) name.",
            "last_name": "Employee's last name (surname).",
            "email": "Work email address at kestrel-systems.co.uk.",
            "job_title": "Job title, e.g. 'Sales Representative', 'Regional Sales Manager', 'Support Engineer'.",
            "department_id": "Department the employee works in (departments.department_id).",
            "manager_id": "Employee this person reports to (employees.employee_id); NULL for the CEO.",
            "region_id": "Sales region the employee covers (regions.region_id); NULL for non-regional staff.",
            "hire_date": "Date the employee joined the company (YYYY-MM-DD).",
            "salary_gbp": "Annual base salary in pounds sterling.",
            "is_active": "1 if the employee currently works at the company, 0 if they have left.",
        },
    ),
    "customers": (
        "Business customers (client companies, accounts) that buy Kestrel sensors, gateways and cloud "
        "subscriptions, with their industry, region, size and account manager.",
        {
            "customer_id": "Unique identifier of the customer.",
            "company_name": "Registered name of the customer company.",
            "industry": "Industry sector of the customer, e.g. 'Water utilities', 'Cold-chain logistics'.",
            "region_id": "Sales region the customer is located in (regions.region_id).",
            "city": "City of the customer's main site.",
            "account_manager_id": "Sales employee who manages the account (employees.employee_id).",
            "company_size": "Employee headcount band of the customer: '1-49', '50-249', '250-999' or '1000+'.",
            "credit_limit_gbp": "Credit limit granted to the customer in pounds sterling.",
            "created_date": "Date the customer account was opened (YYYY-MM-DD).",
            "status": "Account status: 'active', 'on_hold' (credit hold) or 'churned' (no longer a customer).",
        },
    ),
    "products": (
        "Product catalogue: Kestrel Beacon industrial IoT sensors (B100, B200, B300), Kestrel Hub gateways "
        "(H1, H2) and Kestrel Cloud software subscriptions (Starter, Team, Enterprise), with list price and cost.",
        {
            "product_id": "Unique identifier of the product.",
            "sku": "Stock keeping unit code, e.g. 'KB-B200'.",
            "name": "Product name, e.g. 'Kestrel Beacon B200', 'Kestrel Cloud Team'.",
            "product_line": "Product family: 'Kestrel Beacon' (sensors), 'Kestrel Hub' (gateways) or 'Kestrel "
            "Cloud' (SaaS).",
            "category": "Kind of product: 'sensor', 'gateway' or 'subscription'.",
            "unit_price_gbp": "Current list price per unit in pounds sterling; for Kestrel Cloud the price of "
            "one seat for one year.",
            "unit_cost_gbp": "Cost to Kestrel of one unit in pounds sterling (for margin calculations).",
            "billing_period": "'one_off' for hardware bought outright, 'annual' for yearly cloud subscriptions.",
            "launch_date": "Date the product went on sale (YYYY-MM-DD).",
            "discontinued_date": "Date the product stopped being sold (YYYY-MM-DD); NULL if still on sale.",
        },
    ),
    "orders": (
        "Sales orders placed by customers: one row per order with its date, status, sales channel and the "
        "sales representative credited. " + REVENUE_DEFINITION,
        {
            "order_id": "Unique identifier of the order.",
            "order_number": "Human-readable order reference, e.g. 'KS-2024-00123'.",
            "customer_id": "Customer who placed the order (customers.customer_id).",
            "sales_rep_id": "Sales representative credited with the sale (employees.employee_id).",
            "order_date": "Date the order was placed (YYYY-MM-DD).",
            "status": "Order status: 'pending', 'shipped', 'delivered' or 'cancelled'.",
            "channel": "Sales channel: 'direct' (own sales team), 'partner' (reseller) or 'web' (online shop).",
            "shipping_gbp": "Shipping charge on the order in pounds sterling (not part of revenue).",
        },
    ),
    "order_items": (
        "Order lines: which products, how many units and at what price each order contains. Line revenue is "
        "quantity * unit_price_gbp * (1 - discount_pct / 100).",
        {
            "order_item_id": "Unique identifier of the order line.",
            "order_id": "Order this line belongs to (orders.order_id).",
            "product_id": "Product sold on this line (products.product_id).",
            "quantity": "Number of units sold; for Kestrel Cloud the number of seats for one year.",
            "unit_price_gbp": "Price per unit charged on this order in pounds sterling, before discount.",
            "discount_pct": "Discount on the line in percent (0 to 100).",
        },
    ),
    "invoices": (
        "Invoices (bills) issued to customers for shipped and delivered orders, with net amount, VAT at 20%, "
        "total, due date and payment status (paid, partially paid, open, overdue).",
        {
            "invoice_id": "Unique identifier of the invoice.",
            "invoice_number": "Invoice reference, e.g. 'INV-2024-000456'.",
            "order_id": "Order being invoiced (orders.order_id); one invoice per order.",
            "customer_id": "Customer billed (customers.customer_id).",
            "invoice_date": "Date the invoice was issued (YYYY-MM-DD).",
            "due_date": "Date payment is due, 30 days after the invoice date (YYYY-MM-DD).",
            "net_amount_gbp": "Invoice amount before VAT: order revenue plus shipping, in pounds sterling.",
            "vat_gbp": "UK VAT charged at 20% of the net amount, in pounds sterling.",
            "total_gbp": "Amount payable including VAT (net_amount_gbp + vat_gbp).",
            "status": "Payment status as of 2025-01-15: 'paid', 'partially_paid', 'open' (not yet due) or "
            "'overdue' (past due date and not fully paid).",
        },
    ),
    "payments": (
        "Payments received from customers against invoices (cash receipts); an invoice may be paid in several "
        "instalments.",
        {
            "payment_id": "Unique identifier of the payment.",
            "invoice_id": "Invoice the payment settles (invoices.invoice_id).",
            "payment_date": "Date the money was received (YYYY-MM-DD).",
            "amount_gbp": "Amount received in pounds sterling.",
            "method": "Payment method: 'bank_transfer', 'card' or 'direct_debit'.",
            "reference": "Bank or card payment reference, unique per payment.",
        },
    ),
    "support_tickets": (
        "Customer support tickets (cases, complaints, incidents) raised about Kestrel products, with priority, "
        "status, the support agent assigned and the customer's satisfaction score.",
        {
            "ticket_id": "Unique identifier of the support ticket.",
            "customer_id": "Customer who raised the ticket (customers.customer_id).",
            "product_id": "Product the ticket is about (products.product_id); NULL for account or billing questions.",
            "assigned_to_id": "Support employee handling the ticket (employees.employee_id).",
            "opened_at": "When the ticket was opened (YYYY-MM-DD HH:MM:SS, UK time).",
            "closed_at": "When the ticket was resolved or closed (YYYY-MM-DD HH:MM:SS); NULL while open.",
            "priority": "Urgency: 'low', 'medium', 'high' or 'urgent'.",
            "status": "Ticket status: 'open', 'in_progress', 'resolved' or 'closed'.",
            "category": "Kind of problem, e.g. 'connectivity', 'firmware', 'hardware_fault', 'billing'.",
            "subject": "One-line summary written by the customer.",
            "satisfaction_score": "Customer satisfaction rating from 1 (poor) to 5 (excellent) given after "
            "closure; NULL if not rated.",
        },
    ),
}
