// Seed 000 (Momento's Sequelize tutorial), with only the import lines changed:
//   "@gomomento/sdk" and "@gomomento-poc/momento-sequelize-cache" -> this package.
// Run: node examples/momento-tutorial.mjs (offline against the local stand-in unless
// MOMENTO_API_KEY is set). Prints the user read twice and the cache's counters.
import { Sequelize, DataTypes } from 'sequelize';
import { Configurations, CredentialProvider } from '../js/index.mjs';
import { modelCacheFactory, MomentoClientGenerator } from '../js/index.mjs';
import { momentoForExamples } from './momento-local.mjs';

const local = await momentoForExamples(['model-cache']);
const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
const User = sequelize.define('User', { username: DataTypes.STRING, age: DataTypes.INTEGER });
await sequelize.sync();
await User.create({ username: 'user1', age: 29 });

// ---- the tutorial's code ----
const momentoClient = MomentoClientGenerator.getInstance({
        configuration: Configurations.Laptop.latest(),
        credentialProvider: CredentialProvider.fromEnvironmentVariable({environmentVariableName: 'MOMENTO_API_KEY'}),
        defaultTtlSeconds: 60,    
});

const modelCache = await modelCacheFactory(momentoClient);
// ---- end of the tutorial's code ----

const first = await modelCache.wrap(User).findByPk(1);
const second = await modelCache.wrap(User).findByPk(1);
console.log('findByPk(1), a miss:', JSON.stringify(first));
console.log('findByPk(1), a hit: ', JSON.stringify(second));
console.log('key:', momentoClient.keyFor(User, 'findByPk', 1));
const s = momentoClient.stats();
console.log(`stats: hits=${s.hits} misses=${s.misses} fills=${s.fills}`);
await momentoClient.close();
await sequelize.close();
if (local) await local.close();
