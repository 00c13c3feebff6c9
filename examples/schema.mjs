// The demo schema (shared by examples/demo.mjs and bench/index.mjs).
//
//   USER ||--o| PROFILE        User.hasOne(Profile)      / Profile.belongsTo(User)
//   USER ||--o{ ORDER          User.hasMany(Order)       / Order.belongsTo(User)
//   ORDER }|--|{ PRODUCT       Order.belongsToMany(Product, { through: OrderProduct }) and back
//   USER ||--o| ACCOUNT        Account.belongsTo(User, { foreignKey: 'userEmail', targetKey: 'email' })
//
// Everything is deterministic: the same seed gives the same rows, so keys and results are stable
// from one run to the next.
import { Sequelize, DataTypes } from 'sequelize';

/** An in-memory SQLite database (same as `new Sequelize('sqlite::memory:')`, without Node's URL warning). */
export function openDatabase() {
  return new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
}

/** Defines the models and their associations on `sequelize`; returns them. */
export function defineSchema(sequelize) {
  const User = sequelize.define('User', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    name: { type: DataTypes.STRING, allowNull: false },
    email: { type: DataTypes.STRING, allowNull: false, unique: true },
  });

  const Profile = sequelize.define('Profile', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    userId: { type: DataTypes.INTEGER, allowNull: false },
    address: DataTypes.STRING,
    phoneNumber: DataTypes.STRING,
  });

  const Order = sequelize.define('Order', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    userId: { type: DataTypes.INTEGER, allowNull: false },
    orderDetails: DataTypes.STRING,
    orderDate: DataTypes.DATE,
  });

  const Product = sequelize.define('Product', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    name: { type: DataTypes.STRING, allowNull: false },
    price: DataTypes.FLOAT,
  });

  // The junction table ORDER_PRODUCT, as an explicit model so it can be seeded with bulkCreate.
  const OrderProduct = sequelize.define(
    'OrderProduct',
    {
      orderId: { type: DataTypes.INTEGER, primaryKey: true },
      productId: { type: DataTypes.INTEGER, primaryKey: true },
      quantity: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 },
    },
    { tableName: 'OrderProducts' },
  );

  const Account = sequelize.define('Account', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    userEmail: { type: DataTypes.STRING, allowNull: false },
    accountType: DataTypes.STRING,
    balance: DataTypes.FLOAT,
  });

  User.hasOne(Profile, { foreignKey: 'userId' });
  Profile.belongsTo(User, { foreignKey: 'userId' });

  User.hasMany(Order, { foreignKey: 'userId' });
  Order.belongsTo(User, { foreignKey: 'userId' });

  Order.belongsToMany(Product, { through: OrderProduct, foreignKey: 'orderId', otherKey: 'productId' });
  Product.belongsToMany(Order, { through: OrderProduct, foreignKey: 'productId', otherKey: 'orderId' });

  // A foreign key that references a unique non-primary column.
  Account.belongsTo(User, { foreignKey: 'userEmail', targetKey: 'email' });
  User.hasOne(Account, { foreignKey: 'userEmail', sourceKey: 'email' });

  return { User, Profile, Order, Product, OrderProduct, Account };
}

export const DEFAULT_COUNTS = Object.freeze({
  users: 1000,
  profiles: 800,
  orders: 3000,
  products: 200,
  orderProducts: 6000,
  accounts: 500,
});

/** A small deterministic PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Alice', 'Bob', 'Carol', 'Dave', 'Eve', 'Frank', 'Grace', 'Heidi', 'Ivan', 'Judy',
  'Mallory', 'Niaj', 'Olivia', 'Peggy', 'Rupert', 'Sybil', 'Trent', 'Victor', 'Walter', 'Yuki'];
const LAST = ['Tanaka', 'Smith', 'Garcia', 'Müller', 'Rossi', 'Dubois', 'Kowalski', 'Novak', 'Silva', 'Kim'];
const STREETS = ['Main St', 'Oak Ave', 'Pine Rd', 'Maple Dr', 'Cedar Ln', 'Elm St', 'Sakura-dori', 'Harbor Way'];
const GOODS = ['Widget', 'Gadget', 'Doohickey', 'Sprocket', 'Gizmo', 'Thingamajig', 'Whatsit', 'Contraption'];
const ADJ = ['Red', 'Blue', 'Deluxe', 'Mini', 'Pro', 'Eco', 'Turbo', 'Classic', 'Smart', 'Quiet'];

async function insertChunked(Model, rows, chunk = 1000) {
  for (let i = 0; i < rows.length; i += chunk) {
    await Model.bulkCreate(rows.slice(i, i + chunk), { validate: false, hooks: false });
  }
}

/**
 * Creates the tables and fills them with deterministic data. Returns the counts inserted.
 * Fast: a few bulk INSERTs of up to 1000 rows each.
 */
export async function seed(sequelize, models, counts = DEFAULT_COUNTS) {
  const { User, Profile, Order, Product, OrderProduct, Account } = models;
  await sequelize.sync({ force: true });
  const rand = rng(20240601);
  const pick = (arr) => arr[Math.floor(rand() * arr.length)];
  const base = Date.UTC(2024, 0, 1);

  const users = [];
  for (let i = 1; i <= counts.users; i++) {
    users.push({ id: i, name: `${pick(FIRST)} ${pick(LAST)}`, email: `user${i}@example.com` });
  }
  await insertChunked(User, users);

  const profiles = [];
  for (let i = 1; i <= Math.min(counts.profiles, counts.users); i++) {
    profiles.push({
      id: i,
      userId: i,
      address: `${1 + Math.floor(rand() * 999)} ${pick(STREETS)}`,
      phoneNumber: `+1-555-${String(Math.floor(rand() * 10000)).padStart(4, '0')}`,
    });
  }
  await insertChunked(Profile, profiles);

  const products = [];
  for (let i = 1; i <= counts.products; i++) {
    products.push({ id: i, name: `${pick(ADJ)} ${pick(GOODS)} ${i}`, price: Math.round(rand() * 50000) / 100 });
  }
  await insertChunked(Product, products);

  const orders = [];
  for (let i = 1; i <= counts.orders; i++) {
    orders.push({
      id: i,
      userId: 1 + Math.floor(rand() * counts.users),
      orderDetails: `Order #${i}: ${pick(ADJ).toLowerCase()} delivery`,
      orderDate: new Date(base + Math.floor(rand() * 365 * 24 * 3600) * 1000),
    });
  }
  await insertChunked(Order, orders);

  // Distinct (orderId, productId) pairs, about two per order.
  const pairs = new Set();
  const orderProducts = [];
  while (orderProducts.length < counts.orderProducts) {
    const orderId = 1 + Math.floor(rand() * counts.orders);
    const productId = 1 + Math.floor(rand() * counts.products);
    const k = orderId * 100003 + productId;
    if (pairs.has(k)) continue;
    pairs.add(k);
    orderProducts.push({ orderId, productId, quantity: 1 + Math.floor(rand() * 5) });
  }
  await insertChunked(OrderProduct, orderProducts);

  const accounts = [];
  for (let i = 1; i <= Math.min(counts.accounts, counts.users); i++) {
    const userNo = 1 + ((i * 7) % counts.users);
    accounts.push({
      id: i,
      userEmail: `user${userNo}@example.com`,
      accountType: pick(['checking', 'savings', 'business']),
      balance: Math.round(rand() * 1e7) / 100,
    });
  }
  await insertChunked(Account, accounts);

  return {
    users: users.length,
    profiles: profiles.length,
    orders: orders.length,
    products: products.length,
    orderProducts: orderProducts.length,
    accounts: accounts.length,
  };
}
