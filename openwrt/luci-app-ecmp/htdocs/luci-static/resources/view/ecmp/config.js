'use strict';
'require view';
'require form';
'require fs';

// Network > Load balancing: /etc/config/ecmp through LuCI's uci apply.
// Every check here is the one ecmp4/ecmp6 make when they read the file
// (crates/ecmp/src/input/config.rs, options.rs and track.rs), so a value the
// form takes is a value the binaries take. After an apply, `ecmp4 sync`
// and `ecmp6 sync` (the two exact commands the ACL grants for writing)
// put the new settings into the kernel at once, not at the next event.

const TAKEN_TABLES = [ [ 253, 255, _('the kernel\'s default, main and local tables') ],
	[ 1001, 1250, _('mwan3\'s') ], [ 2001, 2250, _('mwan3\'s') ], [ 3001, 3250, _('mwan3\'s') ] ];

function uint(v) {
	return /^[0-9]+$/.test(v) ? +v : NaN;
}

function inRange(lo, hi, what) {
	return function(sid, v) {
		if (v == null || v === '')
			return true;
		const n = uint(v);
		return (n >= lo && n <= hi) ? true : _('Expecting %s from %d to %d').format(what, lo, hi);
	};
}

function validateTable(sid, v) {
	if (v == null || v === '' || v == 'main' || v == 'default')
		return true;
	const n = uint(v);
	if (isNaN(n) || n > 4294967295)
		return _('Expecting main, default or a table number');
	if (n == 0 || n == 255)
		return _('Table %d cannot hold the route').format(n);
	return true;
}

function validateTableBase(sid, v) {
	if (v == null || v === '')
		return true;
	const b = uint(v);
	if (isNaN(b) || b + 255 > 4294967295)
		return _('Expecting a table number with room for 255 tables above it');
	for (const [ a, z, whose ] of TAKEN_TABLES)
		if (b + 1 <= z && a <= b + 255)
			return _('Tables %d-%d overlap %s (%d-%d)').format(b + 1, b + 255, whose, a, z);
	return true;
}

function validateRulePriority(sid, v) {
	if (v == null || v === '')
		return true;
	const p = uint(v);
	if (isNaN(p) || p < 1 || p > 32760)
		return _('Expecting a priority from 1 to 32760 (ours take it and the next five, before the main table\'s rule)');
	for (const [ a, z, whose ] of TAKEN_TABLES.slice(1))
		if (p <= z && a <= p + 5)
			return _('%d-%d overlaps %s rule priorities (%d-%d)').format(p, p + 5, whose, a, z);
	return true;
}

function validateMark(sid, v) {
	if (v == null || v === '' || /^(auto|0|1|on|off|yes|no|true|false|enabled|disabled)$/.test(v))
		return true;
	let m = /^0[xX][0-9a-fA-F]{1,8}$/.test(v) ? parseInt(v.substring(2), 16) : uint(v);
	if (isNaN(m) || m > 4294967295)
		return _('Expecting auto, 0 or a mark mask such as 0x00ff0000');
	let bits = m, ones = 0;
	while (bits && !(bits & 1))
		bits >>>= 1;
	for (let x = m; x; x >>>= 1)
		ones += x & 1;
	if (!m || (bits & (bits + 1)) || ones < 8)
		return _('Expecting a mask of at least 8 contiguous bits');
	if (m & 0x3f00)
		return _('The mask overlaps mwan3\'s mark bits 0x3f00');
	return true;
}

function validateTimeout(sid, v) {
	if (v == null || v === '')
		return true;
	const t = /^([0-9]*)(?:\.([0-9]{1,3}))?$/.exec(v);
	const ms = t && (t[1] !== '' || t[2]) ? (+(t[1] || 0)) * 1000 + +((t[2] || '').padEnd(3, '0')) : NaN;
	return (ms > 0 && ms <= 60000) ? true : _('Expecting seconds from 0.001 to 60');
}

// A policy rule's values, checked as crates/ecmp/src/input/policy.rs does.
function validateNets(sid, v) {
	if (v == null || v === '')
		return true;
	for (const n of String(v).split(/\s+/).filter(Boolean)) {
		const m = /^([^/]+)(?:\/([0-9]{1,3}))?$/.exec(n);
		const v6 = m && m[1].indexOf(':') >= 0;
		const ok = m && (v6 ? /^[0-9a-fA-F:.]+$/.test(m[1]) && m[1].split('::').length <= 2
			: /^([0-9]{1,3}\.){3}[0-9]{1,3}$/.test(m[1]) && m[1].split('.').every(function(x) { return +x <= 255; }));
		if (!ok || (m[2] != null && +m[2] > (v6 ? 128 : 32)))
			return _('Expecting an address or a CIDR');
		const fam = this.section.formvalue(sid, 'family');
		if ((fam == 'ipv4' && v6) || (fam == 'ipv6' && !v6))
			return _('Expecting an address of the rule\'s family');
	}
	return true;
}

function validatePorts(sid, v) {
	if (v == null || v === '')
		return true;
	const proto = this.section.formvalue(sid, 'proto');
	if (proto != 'tcp' && proto != 'udp')
		return _('Ports need protocol tcp or udp');
	for (const part of String(v).split(/[ ,]+/).filter(Boolean)) {
		const m = /^([0-9]{1,5})(?:[-:]([0-9]{1,5}))?$/.exec(part);
		const a = m ? +m[1] : NaN, b = m && m[2] != null ? +m[2] : a;
		if (!m || a < 1 || b > 65535 || a > b)
			return _('Expecting a port (1-65535), a range (1000-2000) or a list');
	}
	return true;
}

// An option of a tabbed section, with its placeholder and check.
function field(s, tab, type, name, title, help, placeholder, validate) {
	const o = s.taboption(tab, type, name, title, help);
	if (placeholder != null)
		o.placeholder = placeholder;
	o.validate = validate;
	return o;
}

function validateName(sid, v) {
	return (v == null || v === '' || /^[A-Za-z0-9_.-]+$/.test(v)) ? true : _('Expecting an interface or proto name');
}

return view.extend({
	render: function() {
		const m = new form.Map('ecmp', _('Load balancing'),
			_('One equal-cost multipath default route over every live WAN link (ecmp-hotplug). netifd runs ecmp4 and ecmp6 on every interface event; Save & Apply also runs them once, so the route follows at once.'));

		for (const [ sid, title, proto, program ] of [ [ 'ipv4', 'IPv4', 'pppoe', 'ecmp4' ], [ 'ipv6', 'IPv6', 'dhcpv6', 'ecmp6' ] ]) {
			const s = m.section(form.NamedSection, sid, 'ecmp', title);
			s.addremove = false;
			s.tab('general', _('General'));
			s.tab('resilient', _('Resilient group'));
			s.tab('inbound', _('Inbound connections'));

			let o = s.taboption('general', form.Flag, 'enabled', _('Enabled'),
				_('Off: %s does nothing on events and leaves its route as it is.').format(program));
			o.default = '1';
			o.rmempty = false;

			o = s.taboption('general', form.ListValue, 'mode', _('Mode'),
				_('auto takes the first the kernel accepts: resilient (a redial moves only that dial\'s flows; Linux 5.13+), group (hash-threshold nexthop group; 5.3+), multipath (one RTA_MULTIPATH route).'));
			o.value('auto', _('auto'));
			o.value('resilient', _('resilient'));
			o.value('group', _('group'));
			o.value('multipath', _('multipath'));
			o.default = 'auto';

			field(s, 'general', form.Value, 'metric', _('Metric'),
				_('Metric of the default route. It must differ from every WAN interface\'s own metric.'),
				'1', inRange(0, 4294967295, _('a metric')));
			field(s, 'general', form.Value, 'table', _('Table'),
				_('main, default or a table number (not 0 or 255).'), 'main', validateTable);
			field(s, 'general', form.DynamicList, 'proto', _('Member protocols'),
				_('netifd protocols whose interfaces are members.'), proto, validateName);
			field(s, 'general', form.DynamicList, 'exclude', _('Excluded interfaces'),
				_('Interfaces never used.'), null, validateName);
			field(s, 'resilient', form.Value, 'buckets', _('Buckets'),
				_('Hash buckets of the resilient group (2-65535). More buckets spread more evenly.'),
				'512', inRange(2, 65535, _('a bucket count')));
			field(s, 'resilient', form.Value, 'idle_timer', _('Idle timer'),
				_('Seconds a bucket must be idle before it may move to another link (0-604800).'),
				'300', inRange(0, 604800, _('seconds')));
			field(s, 'resilient', form.Value, 'unbalanced_timer', _('Unbalanced timer'),
				_('Seconds the group may stay unbalanced before busy buckets move too; 0: never (0-604800).'),
				'0', inRange(0, 604800, _('seconds')));

			o = s.taboption('inbound', form.Flag, 'inbound', _('Inbound connections'),
				_('A table and \'from\' rules per member, so replies to a connection that came in on a dial leave by that dial.'));
			o.default = '1';

			field(s, 'inbound', form.Value, 'table_base', _('Table base'),
				_('Member tables are base+1 to base+255.'), '4200', validateTableBase);
			field(s, 'inbound', form.Value, 'rule_priority', _('Rule priority'), null, '4200', validateRulePriority);

			if (sid == 'ipv4') {
				o = s.taboption('inbound', form.Value, 'inbound_mark', _('Port forward marks'),
					_('auto: on when the firewall has a port forward; 0: off; or a mark mask of at least 8 contiguous bits, clear of mwan3\'s 0x3f00.'));
				o.placeholder = 'auto';
				o.value('auto', _('auto'));
				o.value('0', _('off'));
				o.value('0x00ff0000', '0x00ff0000');
				o.validate = validateMark;
			}
		}

		let s = m.section(form.GridSection, 'member', _('Members'),
			_('Per-interface settings. A member named VWAN3 also applies to VWAN3_6.'));
		s.addremove = true;
		s.anonymous = false;
		s.nodescriptions = true;
		s.addbtntitle = _('Add member');

		// An unset weight or tier is 1: the grid says so, not "none".
		const orOne = function(sid) { return this.cfgvalue(sid) || '1'; };

		let o = s.option(form.Value, 'weight', _('Weight'), _('1-256: a share of new connections.'));
		o.placeholder = '1';
		o.validate = inRange(1, 256, _('a weight'));
		o.textvalue = orOne;

		o = s.option(form.Value, 'tier', _('Tier'), _('1-255: only the lowest tier with a live member carries traffic.'));
		o.placeholder = '1';
		o.validate = inRange(1, 255, _('a tier'));
		o.textvalue = orOne;

		o = s.option(form.Flag, 'track', _('Tracked'));
		o.default = '1';

		o = s.option(form.DynamicList, 'track_ip', _('Probe targets'), _('Instead of the global targets.'));
		o.datatype = 'ipaddr("nomask")';
		o.modalonly = true;

		o = s.option(form.ListValue, 'track_method', _('Probe method'), _('Instead of the global method.'));
		o.value('', _('as Link tracking says'));
		o.value('ping', _('ping (ICMP echo)'));
		o.value('tcp', _('tcp (a connect to the probe port)'));
		o.value('dns', _('dns (an A query to port 53)'));
		o.value('http', _('http (a HEAD request to the probe port, 80 by default)'));
		o.value('gateway', _('gateway (ICMP to the dial\'s own peer)'));
		o.modalonly = true;

		s = m.section(form.GridSection, 'rule', _('Policy rules'),
			_('New connections a rule matches leave by the member it names, or by the whole route (balanced); the first rule that matches decides. mwan3\'s option names.'));
		s.addremove = true;
		s.anonymous = false;
		s.sortable = true;
		s.nodescriptions = true;
		s.addbtntitle = _('Add rule');

		o = s.option(form.ListValue, 'family', _('Family'));
		o.value('any', _('any'));
		o.value('ipv4', 'IPv4');
		o.value('ipv6', 'IPv6');
		o.default = 'any';
		o.modalonly = true;

		o = s.option(form.ListValue, 'proto', _('Protocol'));
		for (const p of [ 'all', 'tcp', 'udp', 'icmp' ])
			o.value(p, p);
		o.default = 'all';

		o = s.option(form.DynamicList, 'src_ip', _('Source'), _('Addresses or CIDRs.'));
		o.validate = validateNets;

		o = s.option(form.DynamicList, 'dest_ip', _('Destination'), _('Addresses or CIDRs.'));
		o.validate = validateNets;

		o = s.option(form.Value, 'src_port', _('Source ports'), _('tcp/udp: 443, 1000-2000, or a list.'));
		o.validate = validatePorts;
		o.modalonly = true;

		o = s.option(form.Value, 'dest_port', _('Destination ports'), _('tcp/udp: 443, 1000-2000, or a list.'));
		o.validate = validatePorts;

		o = s.option(form.Value, 'ipset', _('Domain set'),
			_('A set in our nft table that dnsmasq fills: list nftset \'/bank.example/4#ip#ecmp4#NAME\' in the DHCP and DNS settings (dnsmasq-full).'));
		o.validate = function(sid, v) {
			return (v == null || v === '' || /^[A-Za-z][A-Za-z0-9_]{0,31}$/.test(v)) ? true
				: _('Expecting a set name: a letter, then letters, digits or _ (32 at most)');
		};
		o.modalonly = true;

		o = s.option(form.Value, 'use', _('Use'), _('A member\'s interface (VWAN2 also covers VWAN2_6), tier:N (the live members of that tier, standing by or not, by weight), or balanced: the whole route.'));
		o.placeholder = 'balanced';
		o.rmempty = false;
		o.validate = function(sid, v) {
			const t = /^tier:([0-9]+)$/.exec(v || '');
			if (t)
				return (+t[1] >= 1 && +t[1] <= 255) ? true : _('Expecting tier:1 to tier:255');
			return (v != null && /^[A-Za-z0-9_.-]+$/.test(v)) ? true : _('Expecting a member\'s interface, tier:N or balanced');
		};

		o = s.option(form.Flag, 'fallback', _('Fallback'),
			_('While the member is out of the route: by the route (on), or refused (off), never by another dial.'));
		o.default = '1';

		o = s.option(form.Flag, 'sticky', _('Sticky'),
			_('balanced or tier:N: a source keeps the dial its last matching connection took.'));
		o.default = '0';

		o = s.option(form.Value, 'timeout', _('Sticky timeout'), _('Seconds without a match before a source chooses afresh (1-604800).'));
		o.placeholder = '600';
		o.validate = inRange(1, 604800, _('seconds'));
		o.modalonly = true;

		s = m.section(form.NamedSection, 'track', 'track', _('Link tracking'),
			_('ecmp-track probes every member; dead links leave the route and come back by themselves. The options are mwan3track\'s.'));
		s.addremove = false;

		o = s.option(form.Flag, 'enabled', _('Enabled'));
		o.default = '0';
		o.rmempty = false;

		o = s.option(form.DynamicList, 'track_ip', _('Probe targets'));
		o.datatype = 'ipaddr("nomask")';

		for (const [ name, title, lo, hi, ph, help ] of [
			[ 'reliability', _('Reliability'), 1, 100, '1', _('Targets that must answer in a round.') ],
			[ 'count', _('Count'), 1, 100, '1', _('Echo requests per target per round.') ],
			[ 'interval', _('Interval'), 1, 3600, '5', _('Seconds between rounds.') ],
			[ 'failure_interval', _('Failure interval'), 1, 3600, '5', _('Seconds between rounds while a link fails.') ],
			[ 'recovery_interval', _('Recovery interval'), 1, 3600, '5', _('Seconds between rounds while a link recovers.') ],
			[ 'down', _('Down'), 1, 100, '3', _('Failed rounds before a link is dead.') ],
			[ 'up', _('Up'), 1, 100, '3', _('Good rounds before a dead link is back.') ],
			[ 'redial_after', _('Redial after'), 0, 86400, '0', _('Seconds dead before that interface alone is redialled; 0: never.') ]
		]) {
			o = s.option(form.Value, name, title, help);
			o.placeholder = ph;
			o.validate = inRange(lo, hi, _('a number'));
		}

		o = s.option(form.ListValue, 'track_method', _('Probe method'),
			_('tcp where the ISP drops or fakes ICMP: a SYN-ACK or a RST from the target is an answer. dns: the targets are resolvers; any answer counts.'));
		o.value('ping', _('ping (ICMP echo)'));
		o.value('tcp', _('tcp (a connect to the probe port)'));
		o.value('dns', _('dns (an A query to port 53)'));
		o.value('http', _('http (a HEAD request to the probe port, 80 by default)'));
		o.value('gateway', _('gateway (ICMP to the dial\'s own peer)'));
		o.default = 'ping';

		o = s.option(form.Value, 'track_port', _('Probe port'), _('The port a tcp probe connects to (443 unless set), or an http probe (80).'));
		o.validate = inRange(1, 65535, _('a port'));

		o = s.option(form.Value, 'track_name', _('Probe name'), _('The name a dns probe asks for; any answer counts.'));
		o.placeholder = 'a.root-servers.net';
		o.validate = function(sid, v) {
			return (v == null || v === '' || (v.length <= 253 && v.replace(/\.$/, '').split('.').every(function(l) {
				return /^[A-Za-z0-9_-]{1,63}$/.test(l);
			}))) ? true : _('Expecting a DNS name');
		};

		o = s.option(form.Value, 'timeout', _('Timeout'), _('Seconds to wait for an answer (0.001-60).'));
		o.placeholder = '2';
		o.validate = validateTimeout;

		// mwan3's check_quality: thresholds on each target's mean round
		// trip and lost share of a round, failure's while a link is used,
		// recovery's (never above failure's) to come back.
		o = s.option(form.Flag, 'check_quality', _('Check quality'),
			_('A target that answers too slowly or loses too much counts as not answering. Set Count to 5 or more for the loss to mean something.'));
		o.default = '0';

		for (const [ name, title, lo, hi, ph, help, of ] of [
			[ 'failure_latency', _('Failure latency'), 1, 60000, '1000', _('ms: a round trip this long fails a target of a link in use.') ],
			[ 'failure_loss', _('Failure loss'), 0, 100, '40', _('%: this share of a target\'s probes lost fails it.') ],
			[ 'recovery_latency', _('Recovery latency'), 1, 60000, '500', _('ms: a dead link comes back only at or under this.'), 'failure_latency' ],
			[ 'recovery_loss', _('Recovery loss'), 0, 100, '10', _('%: a dead link comes back only losing no more than this.'), 'failure_loss' ]
		]) {
			o = s.option(form.Value, name, title, help);
			o.placeholder = ph;
			o.depends('check_quality', '1');
			const range = inRange(lo, hi, name.endsWith('loss') ? _('a percentage') : _('milliseconds'));
			o.validate = function(sid, v) {
				const r = range(sid, v);
				if (r !== true || !of || v == null || v === '')
					return r;
				const f = this.section.formvalue(sid, of);
				const limit = (f == null || f === '') ? (of == 'failure_latency' ? 1000 : 40) : uint(f);
				return uint(v) <= limit ? true : _('Must not be above %s (%d)').format(of, limit);
			};
		}

		// The committed config reaches the kernel now: the two exact
		// commands of the ACL. A failure shows; the next event retries.
		document.addEventListener('uci-applied', function() {
			Promise.all([ '/usr/sbin/ecmp4', '/usr/sbin/ecmp6' ].map(function(cmd) {
				return fs.exec_direct(cmd, [ 'sync' ]);
			})).catch(function(e) {
				L.ui.addNotification(null, E('p', _('Applying the route failed: %s').format(e.message || e)), 'error');
			});
		}, { once: true });

		return m.render();
	}
});
