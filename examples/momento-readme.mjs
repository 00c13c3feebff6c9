// Seed 001 (the momento-sequelize-cache README's doWork()), with only the import lines changed
// and its TypeScript annotations dropped; `sequelize` and `UserGroup`, which the README leaves
// out, are defined here. Run: node examples/momento-readme.mjs (offline against the local
// stand-in unless MOMENTO_API_KEY is set).
import { Sequelize, DataTypes } from 'sequelize';
import { Configurations, CredentialProvider } from '../js/index.mjs';
import { MomentoClientGenerator } from '../js/index.mjs';
import { LoggerFactory } from '../js/index.mjs';
import { modelCacheFactory } from '../js/index.mjs';
import { momentoForExamples } from './momento-local.mjs';

const local = await momentoForExamples(['my-model-cache']);
const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
const UserGroup = sequelize.define('UserGroup', { name: DataTypes.STRING });

// ---- the README's code ----
const userSchema = {
username: {
type: DataTypes.STRING,
},
id: {
type: DataTypes.INTEGER,
autoIncrement: true,
primaryKey: true,
},
birthday: DataTypes.DATE,
age: DataTypes.INTEGER,
isActive: DataTypes.BOOLEAN,
accountBalance: DataTypes.FLOAT,
};
const User = sequelize.define("User", userSchema);
async function insertUser(username, birthday, age, isActive, accountBalance) {
await User.create({ username, birthday, age, isActive, accountBalance });
}
async function doWork() {
await User.sync({force: true});
await UserGroup.sync({force: true});
const birthday = new Date(Date.UTC(1992, 5, 21));
const age = 29;
const isActive = true;
const accountBalance = 70.07;
// prepare the data; in real world these will happen elsewhere and we will be employing this project
// primarily as a read-aside cache
await insertUser('user1', birthday, age, isActive, accountBalance);
await insertUser('user2', birthday, age, isActive, accountBalance);
// prepare momento model cache client
// pass {forceCreateCache: true} if want to force create caches
// pass modelCacheName for a cache name else it defaults to model-cache
const momentoClient = MomentoClientGenerator.getInstance({
configuration: Configurations.Laptop.latest(),
credentialProvider: CredentialProvider.fromEnvironmentVariable({environmentVariableName: 'MOMENTO_API_KEY'}),
forceCreateCache: true,
modelCacheName: "my-model-cache",
defaultTtlSeconds: 60,
});
const log = LoggerFactory.createLogger({ logLevel: 'debug' })
const momentoSequelizeClient = await modelCacheFactory(momentoClient, log);
log.debug({ userId : 1 }, "Issuing a read for one user findByPk")
const UserFoundByPK = await momentoSequelizeClient.wrap(User).findByPk(1)
log.debug({user: JSON.stringify(UserFoundByPK)}, "Found user: ");
const UserFindAll = await momentoSequelizeClient.wrap(User).findAll();
log.debug({user: JSON.stringify(UserFindAll)}, "Found users: ");
}
// ---- end of the README's code ----

await doWork().catch(console.error);
// Once more, now from the cache, and what the client counted.
const client = MomentoClientGenerator.getInstance({
  configuration: Configurations.Laptop.latest(),
  credentialProvider: CredentialProvider.fromEnvironmentVariable({ environmentVariableName: 'MOMENTO_API_KEY' }),
  forceCreateCache: true,
  modelCacheName: 'my-model-cache',
  defaultTtlSeconds: 60,
});
const again = await (await modelCacheFactory(client)).wrap(User).findByPk(1);
console.log('findByPk(1) again:', JSON.stringify(again));
const s = client.stats();
console.log(`stats: hits=${s.hits} misses=${s.misses} fills=${s.fills}`);
await client.close();
await sequelize.close();
if (local) await local.close();
