// The test schema: the README/demo schema (USER, PROFILE, ORDER, PRODUCT, ORDER_PRODUCT, ACCOUNT)
// plus the features a cache hit has to reproduce exactly: a paranoid model, scopes, aliases,
// a custom getter, a through model with its own columns and timestamps, associations on a
// non-primary key, and one model (`Sample`) holding a column of every common type.
//
//   User ||--o| Profile        User.hasOne(Profile)          / Profile.belongsTo(User)
//   User ||--o{ Order          User.hasMany(Order)           / Order.belongsTo(User)
//                              User.hasMany(Order, as 'purchases') / Order.belongsTo(User, as 'buyer')
//   Order }o--o{ Product       Order.belongsToMany(Product, { through: ORDER_PRODUCT }) and back
//   User ||--o| Account        User.hasOne(Account, { sourceKey: 'email' })
//                              Account.belongsTo(User, { targetKey: 'email' })
//   Sample                     DATE, DATEONLY, BOOLEAN, DECIMAL, BIGINT, FLOAT, JSON, BLOB, UUID, ENUM
//
// Things to know when reusing it:
// - User's defaultScope hides `email`; `User.scope('withEmail')` (or `User.unscoped()`) shows it.
//   `User.scope('admins')` filters on role, `User.scope({ method: ['named', 'Ann'] })` on name.
// - Order is paranoid: order 6 is soft-deleted by `seed()`.
// - Product.price has a getter that formats it (`5` reads as `'$5'`); the stored value is a FLOAT.
// - Every table name starts with `prefix` (default `snc_`), so test files that share a database can
//   pick different prefixes and run in parallel without dropping each other's tables.
// - `seed()` recreates the tables (`sync({ force: true })`) and inserts a small fixed data set; it
//   returns the ids that tests refer to (see SEED below).
import { DataTypes } from 'sequelize';

/**
 * Defines the models and associations on `sequelize` and returns them.
 * @param {import('sequelize').Sequelize} sequelize
 * @param {{ prefix?: string }} [options]
 */
export function defineSchema(sequelize, { prefix = 'snc_' } = {}) {
  const table = (name) => `${prefix}${name}`;

  const User = sequelize.define(
    'User',
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      name: { type: DataTypes.STRING, allowNull: false },
      email: { type: DataTypes.STRING, allowNull: false, unique: true },
      role: { type: DataTypes.STRING, allowNull: false, defaultValue: 'member' },
    },
    {
      tableName: table('users'),
      defaultScope: { attributes: { exclude: ['email'] } },
      scopes: {
        // An explicit list: `attributes: { include: ['email'] }` would select email twice, which
        // the MariaDB driver rejects ("duplicate field name").
        withEmail: { attributes: ['id', 'name', 'email', 'role', 'createdAt', 'updatedAt'] },
        admins: { where: { role: 'admin' } },
        named: (name) => ({ where: { name } }),
      },
    },
  );

  const Profile = sequelize.define(
    'Profile',
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      userId: { type: DataTypes.INTEGER, allowNull: false },
      address: DataTypes.STRING,
      phoneNumber: DataTypes.STRING,
    },
    { tableName: table('profiles') },
  );

  const Order = sequelize.define(
    'Order',
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      userId: { type: DataTypes.INTEGER, allowNull: false },
      orderDetails: DataTypes.STRING,
      orderDate: DataTypes.DATE,
    },
    { tableName: table('orders'), paranoid: true },
  );

  const Product = sequelize.define(
    'Product',
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      name: { type: DataTypes.STRING, allowNull: false },
      price: {
        type: DataTypes.FLOAT,
        get() {
          const value = this.getDataValue('price');
          return value === null || value === undefined ? value : `$${value}`;
        },
      },
    },
    { tableName: table('products') },
  );

  // The junction table, as an explicit model with its own columns and timestamps, so a
  // belongsToMany include carries a through row (`order.Products[0].ORDER_PRODUCT`).
  const OrderProduct = sequelize.define(
    'ORDER_PRODUCT',
    {
      orderId: { type: DataTypes.INTEGER, primaryKey: true },
      productId: { type: DataTypes.INTEGER, primaryKey: true },
      quantity: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 },
    },
    { tableName: table('order_products') },
  );

  const Account = sequelize.define(
    'Account',
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      userEmail: { type: DataTypes.STRING, allowNull: false },
      accountType: DataTypes.STRING,
      balance: DataTypes.FLOAT,
    },
    { tableName: table('accounts') },
  );

  const Sample = sequelize.define(
    'Sample',
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      label: { type: DataTypes.STRING, allowNull: false },
      at: DataTypes.DATE,
      day: DataTypes.DATEONLY,
      flag: DataTypes.BOOLEAN,
      amount: DataTypes.DECIMAL(12, 2),
      big: DataTypes.BIGINT,
      ratio: DataTypes.FLOAT,
      meta: DataTypes.JSON,
      blob: DataTypes.BLOB,
      uuid: DataTypes.UUID,
      status: DataTypes.ENUM('draft', 'live', 'archived'),
    },
    { tableName: table('samples') },
  );

  User.hasOne(Profile, { foreignKey: 'userId' });
  Profile.belongsTo(User, { foreignKey: 'userId' });

  User.hasMany(Order, { foreignKey: 'userId' });
  Order.belongsTo(User, { foreignKey: 'userId' });
  // The same foreign key again, under aliases.
  User.hasMany(Order, { foreignKey: 'userId', as: 'purchases' });
  Order.belongsTo(User, { foreignKey: 'userId', as: 'buyer' });

  Order.belongsToMany(Product, { through: OrderProduct, foreignKey: 'orderId', otherKey: 'productId' });
  Product.belongsToMany(Order, { through: OrderProduct, foreignKey: 'productId', otherKey: 'orderId' });

  // A foreign key that references a unique non-primary column (User.email).
  User.hasOne(Account, { foreignKey: 'userEmail', sourceKey: 'email', constraints: false });
  Account.belongsTo(User, { foreignKey: 'userEmail', targetKey: 'email', constraints: false });

  return { User, Profile, Order, Product, OrderProduct, Account, Sample };
}

/** Ids and values of the seeded rows that tests refer to. */
export const SEED = Object.freeze({
  /** Ann (admin): profile, 2 orders, an account. */
  ann: 1,
  /** Bob: profile, 2 live orders + 1 soft-deleted one, an account. */
  bob: 2,
  /** Cleo: no profile, 1 order, no account. */
  cleo: 3,
  /** Dan (admin): no profile, no orders, an account. */
  dan: 4,
  /** An order with no products. */
  orderWithoutProducts: 5,
  /** Bob's soft-deleted order. */
  deletedOrder: 6,
  /** A product in no order. */
  productWithoutOrders: 5,
  /** A Sample row whose every nullable column is NULL. */
  nullSample: 3,
  /** A primary key that exists in no table. */
  missingId: 999,
});

const at = (iso) => new Date(iso);

/**
 * Recreates the tables and inserts the fixed data set. Deterministic: every run gives the same
 * rows, ids and timestamps.
 * @param {ReturnType<typeof defineSchema>} models
 */
export async function seed(models) {
  const { User, Profile, Order, Product, OrderProduct, Account, Sample } = models;
  const sequelize = User.sequelize;
  await sequelize.sync({ force: true });

  // Explicit timestamps keep every row stable across runs; `silent` would not set createdAt.
  const stamp = (rows, iso) => rows.map((r, i) => ({ createdAt: at(iso), updatedAt: at(iso), ...r, id: r.id ?? i + 1 }));

  await User.bulkCreate(
    stamp(
      [
        { id: 1, name: 'Ann', email: 'ann@example.com', role: 'admin' },
        { id: 2, name: 'Bob', email: 'bob@example.com' },
        { id: 3, name: 'Cleo', email: 'cleo@example.com' },
        { id: 4, name: 'Dan', email: 'dan@example.com', role: 'admin' },
      ],
      '2024-01-02T03:04:05.678Z',
    ),
  );

  await Profile.bulkCreate(
    stamp(
      [
        { id: 1, userId: 1, address: '1 Main St', phoneNumber: '+1-555-0001' },
        { id: 2, userId: 2, address: '2 Oak Ave', phoneNumber: null },
      ],
      '2024-01-03T00:00:00.000Z',
    ),
  );

  await Order.bulkCreate(
    stamp(
      [
        { id: 1, userId: 1, orderDetails: 'express delivery', orderDate: at('2024-02-01T10:00:00.000Z') },
        { id: 2, userId: 1, orderDetails: 'standard delivery', orderDate: at('2024-03-15T12:30:00.000Z') },
        { id: 3, userId: 2, orderDetails: 'express pickup', orderDate: at('2024-01-20T08:00:00.000Z') },
        { id: 4, userId: 2, orderDetails: 'gift wrap', orderDate: null },
        { id: 5, userId: 3, orderDetails: 'empty cart', orderDate: at('2024-04-01T00:00:00.000Z') },
        { id: 6, userId: 2, orderDetails: 'cancelled', orderDate: at('2024-05-05T05:05:05.000Z') },
      ],
      '2024-01-10T00:00:00.000Z',
    ),
  );
  // Soft-delete order 6 (sets deletedAt).
  await Order.destroy({ where: { id: SEED.deletedOrder } });

  await Product.bulkCreate(
    stamp(
      [
        { id: 1, name: 'Widget', price: 5 },
        { id: 2, name: 'Gadget', price: 12.5 },
        { id: 3, name: 'Sprocket', price: null },
        { id: 4, name: 'Gizmo', price: 99.99 },
        { id: 5, name: 'Doohickey', price: 0.5 },
      ],
      '2024-01-01T00:00:00.000Z',
    ),
  );

  await OrderProduct.bulkCreate([
    { orderId: 1, productId: 1, quantity: 2, createdAt: at('2024-02-01T10:00:01.000Z'), updatedAt: at('2024-02-01T10:00:01.000Z') },
    { orderId: 1, productId: 2, quantity: 1, createdAt: at('2024-02-01T10:00:02.000Z'), updatedAt: at('2024-02-01T10:00:02.000Z') },
    { orderId: 2, productId: 3, quantity: 5, createdAt: at('2024-03-15T12:30:01.000Z'), updatedAt: at('2024-03-15T12:30:01.000Z') },
    { orderId: 3, productId: 1, quantity: 1, createdAt: at('2024-01-20T08:00:01.000Z'), updatedAt: at('2024-01-20T08:00:01.000Z') },
    { orderId: 3, productId: 4, quantity: 3, createdAt: at('2024-01-20T08:00:02.000Z'), updatedAt: at('2024-01-20T08:00:02.000Z') },
    { orderId: 4, productId: 2, quantity: 1, createdAt: at('2024-01-21T00:00:00.000Z'), updatedAt: at('2024-01-21T00:00:00.000Z') },
    { orderId: 6, productId: 4, quantity: 9, createdAt: at('2024-05-05T05:05:06.000Z'), updatedAt: at('2024-05-05T05:05:06.000Z') },
  ]);

  await Account.bulkCreate(
    stamp(
      [
        { id: 1, userEmail: 'ann@example.com', accountType: 'checking', balance: 1500.25 },
        { id: 2, userEmail: 'bob@example.com', accountType: 'savings', balance: 0 },
        { id: 3, userEmail: 'dan@example.com', accountType: 'business', balance: -42.5 },
      ],
      '2024-01-04T00:00:00.000Z',
    ),
  );

  await Sample.bulkCreate(
    stamp(
      [
        {
          id: 1,
          label: 'full',
          at: at('2024-06-01T12:34:56.789Z'),
          day: '2024-06-01',
          flag: true,
          amount: '1234.50',
          big: '9007199254740993',
          ratio: 0.25,
          meta: { tags: ['a', 'b'], nested: { n: 1, ok: true, none: null } },
          blob: Buffer.from([0, 1, 2, 250, 255]),
          uuid: '6f1c2b9e-3d4a-4b5c-8d6e-7f8091a2b3c4',
          status: 'live',
        },
        {
          id: 2,
          label: 'edge',
          at: at('1999-12-31T23:59:59.000Z'),
          day: '1999-12-31',
          flag: false,
          amount: '-0.01',
          big: '-42',
          ratio: -1.5,
          meta: [1, 'two', { three: 3 }],
          blob: Buffer.alloc(0),
          uuid: '00000000-0000-4000-8000-000000000000',
          status: 'draft',
        },
        {
          id: SEED.nullSample,
          label: 'nulls',
          at: null,
          day: null,
          flag: null,
          amount: null,
          big: null,
          ratio: null,
          meta: null,
          blob: null,
          uuid: null,
          status: null,
        },
      ],
      '2024-06-02T00:00:00.000Z',
    ),
  );

  // Rows were inserted with explicit ids: move PostgreSQL's sequences past them, so tests that
  // create rows afterwards get fresh ids (MariaDB and SQLite do this by themselves).
  if (sequelize.getDialect() === 'postgres') {
    for (const Model of [User, Profile, Order, Product, Account, Sample]) {
      const t = Model.getTableName();
      await sequelize.query(
        `SELECT setval(pg_get_serial_sequence('"${t}"', 'id'), (SELECT MAX(id) FROM "${t}"))`,
      );
    }
  }

  return SEED;
}
